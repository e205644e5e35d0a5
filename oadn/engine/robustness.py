"""The occlusion-robustness protocol: a finished run scored on a severity grid of pasted occluders, without
retraining (``oadn-bench evaluate RUN --protocol occlusion-grid``).

The grid (``occlusion-grid``): the run's clean test split; every painted occluder kind (the 14 of
:data:`oadn.data.occluders.real.KINDS` but ``random``) at five severities, 10, 20, 30, 40 and 50% of the face
hull covered (the ``occluded`` data set's ``area``); and the two misleading swaps (another class's mouth or eyes
blended in; one severity each). Every face is occluded (``probability: 1``) with the occluder drawn by
``occluder_seed: 0`` (the same faces and the same occluders for every method), and landmark scores are what the
run's own landmark backend gives the clean face (``scores: backend``): a method that drops points by their
scores gets no hint of where the occluder is, as in use. ``occlusion-grid-oracle`` is the same grid with points
under the occluder scored 0 (``scores: oracle``): the upper bound for such a method.

Each cell is an ordinary evaluation (its predictions under ``<run>/evaluations/``, reused when scored before, on
the same data). The protocol's summary goes to ``<run>/robustness/<protocol>/``: ``summary.json`` (per cell: kind,
severity, accuracy, mean-class accuracy, faces, predictions file; the test split's fingerprint; the run's
training data record) and ``correct.npz`` (per cell and face, whether the run was right; the face ids and
labels), which the leaderboard's intervals resample. The score itself (relative robustness, the mean occlusion
error against the GAP baseline) is computed where runs are compared: :mod:`oadn.report.robustness_score`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from oadn.common.files import save_json, save_npz
from oadn.common.progress import progress_bar
from oadn.config import RunConfig
from oadn.data.occluders.real import KINDS
from oadn.data.occluders.swap import SWAP_KINDS
from oadn.engine.evaluate import evaluate_missing
from oadn.engine.run_dir import load_config, load_data_record

#: the ``occluded`` data set's own options: what is not passed through to the base data set
OCCLUDED_OPTIONS = ("base", "kind", "area", "probability", "occluder_seed", "scores", "visibility", "train_limit")


@dataclass(frozen=True)
class Protocol:
    """A severity grid: which kinds, at which shares of the face, under which score mode."""

    name: str
    kinds: tuple[str, ...]
    severities: tuple[float, ...]
    swaps: tuple[str, ...]
    scores: str
    occluder_seed: int = 0
    description: str = ""


PROTOCOLS = {
    "occlusion-grid": Protocol(
        "occlusion-grid", KINDS[:-1], (0.1, 0.2, 0.3, 0.4, 0.5), SWAP_KINDS, "backend", 0,
        "every painted kind at 10-50% of the face and the two swaps, landmark scores as the run's backend gives "
        "them on the clean face"),
    "occlusion-grid-oracle": Protocol(
        "occlusion-grid-oracle", KINDS[:-1], (0.1, 0.2, 0.3, 0.4, 0.5), SWAP_KINDS, "oracle", 0,
        "the same grid with points under the occluder scored 0 (the upper bound of dropping them)"),
}


@dataclass(frozen=True)
class Cell:
    """One test set of a protocol: ``clean``, a painted kind at a severity, or a swap (severity None)."""

    name: str
    kind: str
    severity: float | None


def protocol_cells(protocol: Protocol) -> list[Cell]:
    """The clean cell, then every kind at every severity (``mask@30%``), then the swaps, in that order."""
    cells = [Cell("clean", "clean", None)]
    cells += [Cell(f"{kind}@{round(100 * area)}%", kind, area) for kind in protocol.kinds for area in
              protocol.severities]
    return cells + [Cell(kind, kind, None) for kind in protocol.swaps]


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise KeyError(f"unknown protocol {name!r}; built in: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def base_of(config: RunConfig) -> tuple[str, dict[str, Any]]:
    """The data set a run's faces come from and its options: a run trained on ``occluded`` faces is scored on
    its base data set's clean test faces."""
    if config.data.name != "occluded":
        return config.data.name, dict(config.data.options)
    options = dict(config.data.options)
    base = options.pop("base", "ferplus")
    return base, {k: v for k, v in options.items() if k not in OCCLUDED_OPTIONS}


def cell_request(cell: Cell, protocol: Protocol, base: str, base_options: dict[str, Any]) -> tuple[str, dict]:
    """(data set, options) that score ``cell``: the base data set itself, or ``occluded`` over it."""
    if cell.kind == "clean":
        return base, dict(base_options)
    options = {**base_options, "base": base, "kind": cell.kind, "probability": 1.0, "scores": protocol.scores,
               "occluder_seed": protocol.occluder_seed}
    if cell.severity is not None:
        options["area"] = cell.severity
    return "occluded", options


def protocol_dir(run_dir: Path, protocol: str) -> Path:
    return Path(run_dir) / "robustness" / protocol


def score_protocol(run_dir: Path, protocol: Protocol, *, split: str | None = None, root: Path | None = None,
                   split_options: dict[str, Any] | None = None, progress: bool = True,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score the run on every cell of ``protocol`` (cells scored before are reused) and write its summary (see
    the module docstring); returns the summary."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    base, base_options = base_of(config)
    split = split or (config.data.test_splits[0] if config.data.test_splits else "test")
    cells = protocol_cells(protocol)
    rows, correct, ids, labels, fingerprint = [], [], None, None, None
    with progress_bar(progress) as bar:
        task = bar.add_task(f"{protocol.name} on {base} {split}", total=len(cells), info="")
        for cell in cells:
            dataset, options = cell_request(cell, protocol, base, base_options)
            spec, metrics = evaluate_missing(run_dir, [split], dataset=dataset, root=root, options=options,
                                             split_options=split_options, progress=False, log=log)
            path = spec.out_dir / f"{split}.parquet"
            predictions = pd.read_parquet(path, columns=["image_id", "label", "pred_prediction"])
            if ids is None:
                ids, labels = predictions["image_id"].to_numpy().astype(str), predictions["label"].to_numpy()
                fingerprint = metrics[split].get("data")
            elif not np.array_equal(predictions["image_id"].to_numpy().astype(str), ids):
                raise ValueError(f"{path}: scored other faces than the clean cell ({len(predictions)} against "
                                 f"{len(ids)}); remove {spec.out_dir} and score the protocol again")
            hits = (predictions["label"] == predictions["pred_prediction"]).to_numpy()
            correct.append(hits)
            scored = metrics[split]["prediction"]
            rows.append({**asdict(cell), "accuracy": float(hits.mean()),
                         "mean_class_accuracy": float(scored["mean_class_accuracy"]), "faces": int(len(hits)),
                         "dataset": dataset, "predictions": str(path.relative_to(run_dir))})
            bar.advance(task)
    summary = {
        "protocol": asdict(protocol), "run": str(run_dir), "base": base, "base_options": base_options,
        "split": split, "test_data": fingerprint, "training_data": load_data_record(run_dir),
        "classes": list(spec.adapter.classes), "cells": rows,
    }
    out = protocol_dir(run_dir, protocol.name)
    save_npz({"correct": np.stack(correct), "image_ids": ids, "labels": labels}, out / "correct.npz")
    save_json(summary, out / "summary.json")
    return summary


def load_correct(run_dir: Path, protocol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cells x faces bools, face ids, labels) of a scored protocol, read without pickles."""
    path = protocol_dir(run_dir, protocol) / "correct.npz"
    with np.load(path, allow_pickle=False) as data:
        return data["correct"], data["image_ids"], data["labels"]
