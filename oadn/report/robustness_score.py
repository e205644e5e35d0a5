"""The occlusion-robustness score of one method on a protocol's severity grid, with its interval.

Definitions (``c`` a cell of the grid, ``k`` an occluder kind with severities ``s``; a swap is a kind with one
severity; errors are top-1 errors, 1 - accuracy, each the mean over the method's seeds):

- accuracy per kind and severity, ``A(k, s)``, and on the clean faces, ``A(clean)``;
- relative robustness, ``RR = mean over the occluded cells of A(c) / A(clean)`` (1 = unharmed);
- occlusion error per kind, relative to the baseline: ``OE(k) = sum_s E(k, s) / sum_s E_base(k, s)``;
- the summary, the mean occlusion error: ``mOE = 100 * mean over kinds k of OE(k)`` (ImageNet-C's mCE with
  occluder kinds for corruptions; the baseline scores 100; lower is better).

The baseline is the GAP baseline (``model.name: baseline``) trained the same way: the same backbone and
pre-training, the same data and training settings (every ``data`` and ``train`` key but the seed), scored on the
same test faces and protocol. The interval resamples test faces (the same resampled faces for every cell, every
seed and the baseline; 2,000 resamples, percentile, seeded), the statistic each time the mOE of the seed-mean
errors; each seed's own mOE (against the baseline's seed-mean errors) is given beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from oadn.report.stats import resample_weights

RESAMPLES = 2000


@dataclass
class GridScores:
    """One method's protocol results over its seeds: ``correct`` is seeds x cells x faces."""

    cells: list[dict[str, Any]]
    correct: np.ndarray
    image_ids: np.ndarray

    def kinds(self) -> list[str]:
        """The occluded kinds in grid order (the clean cell left out)."""
        return list(dict.fromkeys(c["kind"] for c in self.cells if c["kind"] != "clean"))

    def clean_index(self) -> int:
        return next(i for i, c in enumerate(self.cells) if c["kind"] == "clean")


def aligned(method: GridScores, baseline: GridScores) -> tuple[np.ndarray, np.ndarray]:
    """Both correctness arrays on the faces and cells they share, in the method's order; a ValueError when the
    grids differ (another protocol) or they share no face."""
    if [c["name"] for c in method.cells] != [c["name"] for c in baseline.cells]:
        raise ValueError("the baseline was scored on another grid")
    common, mine, theirs = np.intersect1d(method.image_ids, baseline.image_ids, return_indices=True)
    if not len(common):
        raise ValueError("the baseline was scored on other test faces")
    return method.correct[:, :, mine], baseline.correct[:, :, theirs]


def _kind_rows(cells: list[dict[str, Any]]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for index, cell in enumerate(cells):
        if cell["kind"] != "clean":
            rows.setdefault(cell["kind"], []).append(index)
    return rows


def mean_occlusion_error(errors: np.ndarray, baseline: np.ndarray, cells: list[dict[str, Any]]) -> np.ndarray:
    """mOE in % from per-cell errors (cells x ..., any trailing dims such as resamples), see the module docstring."""
    ratios = [errors[rows].sum(axis=0) / np.maximum(baseline[rows].sum(axis=0), 1e-12)
              for rows in _kind_rows(cells).values()]
    return 100 * np.mean(ratios, axis=0)


def grid_score(method: GridScores, baseline: GridScores | None, *, resamples: int = RESAMPLES,
               seed: int = 0) -> dict[str, Any]:
    """Accuracy per cell, relative robustness, and (with a baseline) mOE with its interval and per-seed values."""
    accuracy = method.correct.mean(axis=2).mean(axis=0)  # per cell, mean over seeds
    clean = float(accuracy[method.clean_index()])
    occluded = [i for i, c in enumerate(method.cells) if c["kind"] != "clean"]
    per_kind = {kind: {"severities": [method.cells[i]["severity"] for i in rows],
                       "accuracy": [float(accuracy[i]) for i in rows],
                       "relative": float(np.mean(accuracy[rows]) / clean) if clean else float("nan")}
                for kind, rows in _kind_rows(method.cells).items()}
    out: dict[str, Any] = {
        "faces": int(method.correct.shape[2]),
        "clean_accuracy": clean, "occluded_accuracy": float(accuracy[occluded].mean()),
        "relative_robustness": float(np.mean(accuracy[occluded] / clean)) if clean else float("nan"),
        "cells": [{**c, "accuracy": float(a)} for c, a in zip(method.cells, accuracy)], "per_kind": per_kind,
        "moe": None, "moe_ci": None, "moe_per_seed": None, "faces_shared_with_baseline": None,
    }
    if baseline is None:
        return out
    mine, theirs = aligned(method, baseline)
    errors = 1 - mine.mean(axis=2).mean(axis=0)
    base_errors = 1 - theirs.mean(axis=2).mean(axis=0)
    weights = resample_weights(mine.shape[2], resamples, seed).astype(np.float32)  # resamples x faces
    faces = mine.shape[2]
    boot = 1 - (mine.astype(np.float32) @ weights.T / faces).mean(axis=0)  # cells x resamples
    base_boot = 1 - (theirs.astype(np.float32) @ weights.T / faces).mean(axis=0)
    values = mean_occlusion_error(boot, base_boot, method.cells)
    out.update({
        "moe": float(mean_occlusion_error(errors, base_errors, method.cells)),
        "moe_ci": [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))],
        "moe_per_seed": [float(mean_occlusion_error(1 - seed_hits.mean(axis=1), base_errors, method.cells))
                         for seed_hits in mine],
        "faces_shared_with_baseline": int(faces), "resamples": resamples,
    })
    return out
