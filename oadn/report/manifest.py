"""Reading a suite's manifest.csv and scoring each finished row from its per-image predictions.

Scores are recomputed from predictions (not read from metrics.json) because the report needs per-image
correctness: bootstrap intervals resample images and McNemar pairs two methods image by image. Calibration reads
the per-image ``scores`` column (the prediction's class probabilities) over the scored classes, renormalised
over them: for a restricted column that is the probability among the classes the test set has.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from oadn.common.files import read_checked


@dataclass
class ManifestRow:
    """One experiment x test-set column x method x seed of a suite: the manifest's one row type, written by the
    suite runner and read back here."""

    suite: str
    experiment: str
    experiment_title: str
    table: str
    column: str
    published_key: str
    dataset: str
    split: str
    #: the protocol options the column was scored under, as sorted JSON
    options: str
    method: str
    seed: int
    #: how the row was initialised: scratch, a timm tag, or a weights file
    init: str
    status: str = "skipped"  # one of STATUSES
    reason: str = ""
    run_dir: str = ""
    predictions: str = ""
    #: JSON lists: the run's classes, and those the column is scored on
    classes: str = "[]"
    scored_classes: str = "[]"
    #: whether predictions were restricted to the scored classes
    restricted: bool = False
    #: the registered method the row trained (model.name), which links it to a published row of that method
    model: str = ""
    #: the column's fields, from the options it was scored under: the occluder kind(s), the share of the face
    #: covered, the score mode ("" where the test set pastes none); what analyses select columns by
    kind: str = ""
    area: str = ""
    scores: str = ""

    def set_options(self, options: dict[str, Any]) -> None:
        """The options the column was scored under (sorted JSON), and the fields they give."""
        self.options = json.dumps(options, sort_keys=True)
        for key, value in column_fields(options).items():
            setattr(self, key, value)


#: a column's fields: the occlusion options that say what a test set is, recorded in the manifest
FIELDS = ("kind", "area", "scores")


def column_fields(options: dict[str, Any]) -> dict[str, str]:
    """kind, area and scores of a column's options as text (a list of kinds joined with '+'; "" when absent)."""
    def text(value: Any) -> str:
        return "+".join(map(str, value)) if isinstance(value, (list, tuple)) else "" if value is None else str(value)

    return {key: text(options.get(key)) for key in FIELDS}


COLUMNS = [item.name for item in fields(ManifestRow)]
#: columns a manifest written before they existed may lack, and the value they take then
OPTIONAL_COLUMNS = {"model": "", "kind": "", "area": "", "scores": ""}
STATUSES = ("finished", "unfinished", "skipped")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False, "": False}


@dataclass
class ScoredRow:
    """One run scored on one test set: correctness per image over the scored classes."""

    image_ids: np.ndarray
    labels: np.ndarray  # index into scored_classes
    correct: np.ndarray  # bool per image
    scored_classes: list[str]
    predicted_classes: list[str]  # confusion-matrix columns: scored classes, then any other class predicted
    confusion: np.ndarray  # (scored, predicted) counts
    #: per image, whether each other branch the predictions carry (OADN's ``lab`` and ``frb``) got it right
    branch_correct: dict[str, np.ndarray] = field(default_factory=dict)
    #: per image, whether a swapped-in region's class came from another face (``swapped``) and, per branch
    #: ("prediction" included), whether that branch predicted the donor's class; where predictions carry donors
    swapped: np.ndarray | None = None
    donor_hits: dict[str, np.ndarray] = field(default_factory=dict)
    #: per image, the interest points the method kept, where predictions carry them
    kept_points: np.ndarray | None = None
    #: images x scored classes: the prediction's probabilities over the scored classes; None when the predictions
    #: file has no ``scores`` column (written before it existed)
    probabilities: np.ndarray | None = None
    #: per image, the predicted class as an index into predicted_classes
    predicted: np.ndarray | None = None

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def branch_accuracy(self) -> dict[str, float]:
        """Overall accuracy of each other branch, on the same images."""
        return {branch: float(correct.mean()) for branch, correct in self.branch_correct.items()}

    def correct_of(self, branch: str) -> np.ndarray:
        """Per image, whether ``branch`` ("prediction" = the fused one) got it right; KeyError for a branch the
        predictions do not carry."""
        return self.correct if branch == "prediction" else self.branch_correct[branch]

    def per_class_accuracy(self) -> dict[str, float]:
        """Recall per scored class; NaN for a class without test images."""
        return {
            name: float(self.correct[self.labels == i].mean()) if np.any(self.labels == i) else float("nan")
            for i, name in enumerate(self.scored_classes)
        }

    @property
    def mean_class_accuracy(self) -> float:
        return float(np.nanmean(list(self.per_class_accuracy().values())))


def write_manifest(rows: list[ManifestRow], path: Path) -> None:
    """manifest.csv: one line per row, in COLUMNS order."""
    pd.DataFrame([asdict(row) for row in rows], columns=COLUMNS).to_csv(path, index=False)


def _json_list(text: str, where: str, column: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: column {column!r} is not JSON ({error}): {text!r}") from error
    if not isinstance(value, list):
        raise ValueError(f"{where}: column {column!r} should be a JSON list, got {text!r}")
    return value


def load_manifest(report_dir: Path) -> pd.DataFrame:
    """manifest.csv as a table with typed seed/restricted and parsed class lists; errors name file and line."""
    path = Path(report_dir) / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest (is {report_dir} a suite report directory?)")
    table = read_checked(path, lambda p: pd.read_csv(p, dtype=str, keep_default_na=False),
                         "run the suite again (`oadn-bench run --suite ...`): it writes the manifest again and reuses "
                         "every finished run")
    table = table.assign(**{c: v for c, v in OPTIONAL_COLUMNS.items() if c not in table.columns})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    seeds, restricted, classes, scored = [], [], [], []
    for line, row in enumerate(table.itertuples(index=False), start=2):
        where = f"{path}, line {line}"
        if row.status not in STATUSES:
            raise ValueError(f"{where}: status {row.status!r}; expected one of {', '.join(STATUSES)}")
        if not row.seed.lstrip("-").isdigit():
            raise ValueError(f"{where}: seed {row.seed!r} is not an integer")
        if row.restricted.strip().lower() not in _BOOLEANS:
            raise ValueError(f"{where}: restricted {row.restricted!r}; expected true or false")
        seeds.append(int(row.seed))
        restricted.append(_BOOLEANS[row.restricted.strip().lower()])
        finished = row.status == "finished"
        classes.append(_json_list(row.classes, where, "classes") if finished or row.classes else [])
        scored.append(_json_list(row.scored_classes, where, "scored_classes") if finished or row.scored_classes else [])
        if finished and not set(scored[-1]) <= set(classes[-1]):
            raise ValueError(f"{where}: scored_classes {scored[-1]} are not all in classes {classes[-1]}")
    return table.assign(seed=seeds, restricted=restricted, classes=classes, scored_classes=scored)


def resolve_path(text: str, report_dir: Path) -> Path:
    """A manifest path: absolute, or relative to the working directory, or else to the report directory."""
    path = Path(text)
    if path.is_absolute() or path.exists():
        return path
    return Path(report_dir) / path


def score_row(row: pd.Series, report_dir: Path) -> ScoredRow:
    """Score a finished manifest row's predictions on its scored classes (by canonical name)."""
    path = resolve_path(row["predictions"], report_dir)
    if not row["predictions"] or not path.is_file():
        raise FileNotFoundError(f"predictions not found: {row['predictions'] or '(empty path)'}")
    needed = ["image_id", "label", "pred_prediction"]
    advice = ("remove it and run the suite again: a run's own predictions are written again by `oadn-bench train "
              "--resume RUN` once metrics.json is removed too, an evaluation's by evaluating again")
    stored = read_checked(path, lambda p: pq.read_schema(p).names, advice)
    missing = [c for c in needed if c not in stored]
    if missing:
        raise ValueError(f"{path}: predictions lack column(s) {', '.join(missing)}; expected {', '.join(needed)}")
    branches = [c for c in stored if c.startswith("pred_") and c != "pred_prediction"]
    extras = [c for c in ("scores", "donor", "kept_points") if c in stored]
    columns = needed + branches + extras
    table = read_checked(path, lambda p: pd.read_parquet(p, columns=columns), advice)
    classes, scored = list(row["classes"]), list(row["scored_classes"])
    names = np.asarray(classes, dtype=object)
    for column in ("label", "pred_prediction"):
        values = table[column].to_numpy()
        if len(values) and (values.min() < 0 or values.max() >= len(classes)):
            raise ValueError(f"{path}: {column} outside 0..{len(classes) - 1} (classes {classes})")
    label_names = names[table["label"].to_numpy()]
    keep = np.isin(label_names, scored)
    if not keep.any():
        raise ValueError(f"{path}: no image of the scored classes {scored}")
    label_names, pred_names = label_names[keep], names[table["pred_prediction"].to_numpy()[keep]]
    others = [c for c in classes if c not in scored and c in set(pred_names)]
    predicted = scored + others
    labels = np.array([scored.index(n) for n in label_names])
    columns = np.array([predicted.index(n) for n in pred_names])
    confusion = np.zeros((len(scored), len(predicted)), dtype=np.int64)
    np.add.at(confusion, (labels, columns), 1)
    return ScoredRow(
        image_ids=table["image_id"].to_numpy()[keep].astype(str),
        labels=labels,
        correct=label_names == pred_names,
        scored_classes=scored,
        predicted_classes=predicted,
        confusion=confusion,
        branch_correct={
            column.removeprefix("pred_"): names[table[column].to_numpy()[keep]] == label_names for column in branches
        },
        probabilities=_scored_probabilities(table, keep, classes, scored, path) if "scores" in table else None,
        swapped=table["donor"].to_numpy()[keep] >= 0 if "donor" in table else None,
        donor_hits={column.removeprefix("pred_"): (table[column].to_numpy() == table["donor"].to_numpy())[keep]
                    for column in ["pred_prediction", *branches]} if "donor" in table else {},
        kept_points=table["kept_points"].to_numpy()[keep] if "kept_points" in table else None,
        predicted=columns,
    )


def _scored_probabilities(table: pd.DataFrame, keep: np.ndarray, classes: list[str], scored: list[str],
                          path: Path) -> np.ndarray:
    """The kept images' scores over the scored classes (by name), renormalised to sum to one."""
    scores = np.stack(table["scores"].to_numpy()[keep]).astype(float)
    if scores.shape[1] != len(classes):
        raise ValueError(f"{path}: scores have {scores.shape[1]} columns; expected one per class ({classes})")
    scores = scores[:, [classes.index(name) for name in scored]]
    return scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)
