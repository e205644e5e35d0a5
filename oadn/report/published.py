"""The paper's published accuracies (Tables 1-5 of the OADN paper), kept in one data file: published.csv.

pretraining: vggface2 (the face-recognition pre-trained rows), imagenet (the paper's own OADN setting), own (a
cited method's own setting, which the paper lists beside its ImageNet rows). model: the registered method that
retrains the published one here (oadn, ran, gacnn; PG-CNN's is pacnn, its journal version), empty when none does;
a report puts our rows of that method beside the published row, with the difference.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

PUBLISHED_KEYS = (
    "rafdb-test",
    "affectnet7-val",
    "occlusion-affectnet",
    "pose30-affectnet",
    "pose45-affectnet",
    "fedro-test",
    "occlusion-ferplus",
    "pose30-ferplus",
    "pose45-ferplus",
)
PRETRAININGS = ("imagenet", "vggface2", "own")
COLUMNS = ["table", "method", "published_key", "accuracy", "pretraining", "protocol", "metric", "source", "model"]


def load_published(path: Path | None = None) -> pd.DataFrame:
    """Published rows in the paper's order; accuracy in percent as printed. Bad rows raise naming the line."""
    path = Path(path) if path else Path(str(resources.files("oadn.report") / "published.csv"))
    frame = pd.read_csv(path, dtype={"accuracy": float}, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    for row, (key, pretraining, accuracy) in enumerate(
        zip(frame["published_key"], frame["pretraining"], frame["accuracy"]), start=2
    ):
        if key not in PUBLISHED_KEYS:
            raise ValueError(f"{path}, line {row}: unknown published_key {key!r}; expected one of {PUBLISHED_KEYS}")
        if pretraining not in PRETRAININGS:
            raise ValueError(f"{path}, line {row}: pretraining {pretraining!r}; expected one of {PRETRAININGS}")
        if not 0 <= accuracy <= 100:
            raise ValueError(f"{path}, line {row}: accuracy {accuracy} is not a percentage")
    return frame[COLUMNS]
