"""AffectNet (manually annotated part), read from the publisher's CSV file lists without touching the images.

Layout: ``Manually_Annotated_file_lists/{training,validation}.csv`` with the columns subDirectory_filePath,
face_x, face_y, face_width, face_height, facial_landmarks (68 x,y pairs as 136 ';'-separated floats),
expression, valence, arousal; images under ``Manually_Annotated_Images/<subDirectory_filePath>``. A header
line is accepted when present (copies differ). Expression codes: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise,
4 Fear, 5 Disgust, 6 Anger, 7 Contempt, 8 None, 9 Uncertain, 10 No-Face.

Protocols: 7 classes (codes 0-6) or 8 (0-7); codes 8-10 are never used; the validation set is the test set
(AffectNet's own test set is unreleased). The CSV's face boxes and landmarks (no confidence scores) are
emitted as ``face_box`` and ``landmarks68``.

Speed: each CSV is read as whole lines by pandas' C parser and split column-wise, so a 300k-row file indexes
in seconds and every malformed line keeps its exact line number.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from oadn.data.adapters.common import EXCLUDED, FileDatasetAdapter, require_dir, require_file
from oadn.data.index import Problem
from oadn.data.registry import register_dataset
from oadn.labels import canonical_index, class_space

LIST_DIR = Path("Manually_Annotated_file_lists")
IMAGE_DIR = Path("Manually_Annotated_Images")
SPLIT_FILES = {"train": "training.csv", "test": "validation.csv"}
HEADER = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
          "expression", "valence", "arousal")
CODE_NAMES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt",
              "none", "uncertain", "no-face")
#: canonical index of expression codes 0-7
TO_CANONICAL = np.array([canonical_index(name) for name in CODE_NAMES[:8]], dtype=np.int64)


def _read_lines(path: Path) -> pd.Series:
    """Every line of ``path`` as a string, indexed by 1-based line number (blank lines dropped)."""
    lines = pd.read_csv(path, sep="\x1f", header=None, dtype=str, quoting=csv.QUOTE_NONE, keep_default_na=False,
                        skip_blank_lines=False, names=["line"], encoding_errors="replace", engine="c")["line"]
    lines.index = np.arange(1, len(lines) + 1)
    lines = lines.str.rstrip("\r")
    return lines[lines.str.strip() != ""]


def parse_list(path: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Rows of one CSV list (columns of HEADER, numbers parsed; index = line number) and its malformed lines."""
    lines = _read_lines(path)
    if len(lines) and lines.iloc[0].startswith(HEADER[0]):
        lines = lines.iloc[1:]
    problems: list[Problem] = []
    n_fields = lines.str.count(",") + 1
    for line, n in n_fields[n_fields != len(HEADER)].items():
        problems.append(Problem(str(path), f"expected {len(HEADER)} comma-separated fields ({', '.join(HEADER)}), got {n}", int(line)))
    table = lines[n_fields == len(HEADER)].str.split(",", expand=True, regex=False)
    table.columns = list(HEADER)
    if table.empty:
        return table, problems
    numbers = {c: pd.to_numeric(table[c], errors="coerce") for c in HEADER[1:5] + HEADER[6:]}
    code = numbers["expression"]
    landmarks = _parse_landmarks(table["facial_landmarks"])
    bad_numbers = pd.concat([v.isna() for v in numbers.values()], axis=1).any(axis=1)
    bad_code = ~bad_numbers & ((code % 1 != 0) | (code < 0) | (code > 10))
    bad_landmarks = landmarks.isna().any(axis=1)
    for line in bad_numbers[bad_numbers].index:
        fields = ", ".join(f"{c}={table.at[line, c]!r}" for c, v in numbers.items() if np.isnan(v[line]))
        problems.append(Problem(str(path), f"expected numbers, got {fields}", int(line)))
    for line in bad_code[bad_code].index:
        problems.append(Problem(str(path), f"unknown expression code {table.at[line, 'expression']!r} (expected 0-10)", int(line)))
    for line in bad_landmarks[bad_landmarks & ~bad_numbers & ~bad_code].index:
        problems.append(Problem(str(path), "facial_landmarks: expected 136 ';'-separated numbers (68 x,y pairs)", int(line)))
    good = ~(bad_numbers | bad_code | bad_landmarks)
    rows = pd.DataFrame({c: numbers[c][good] for c in numbers}, index=table.index[good])
    rows["subDirectory_filePath"] = table["subDirectory_filePath"][good].str.strip()
    rows["landmarks68"] = list(landmarks[good].to_numpy(dtype=np.float64))
    problems.sort(key=lambda p: p.line or 0)
    return rows, problems


def _parse_landmarks(column: pd.Series) -> pd.DataFrame:
    """136 floats per row (NaN where a row has a wrong count or a non-number), parsed by pandas' C reader."""
    counts = column.str.count(";") + 1
    text = column.where(counts == 136, ";" * 135)
    values = pd.read_csv(io.StringIO("\n".join(text)), sep=";", header=None, dtype=str, keep_default_na=False,
                         engine="c", names=range(136))
    parsed = values.apply(pd.to_numeric, errors="coerce")
    parsed.index = column.index
    return parsed


@register_dataset("affectnet")
class AffectNet(FileDatasetAdapter):
    """AffectNet manually annotated images, 7- or 8-class protocol, validation set as test."""

    description = "AffectNet manual annotations; num_classes 7|8 (codes 8-10 excluded), test = validation set"

    def __init__(self, num_classes: int = 7):
        self.num_classes = int(num_classes)
        self._classes = class_space(self.num_classes)
        self._splits = ("train", "test")

    @property
    def protocol(self) -> str:
        return f"{self.num_classes} classes (codes 0-{self.num_classes - 1}), train = training.csv, test = validation.csv"

    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        require_dir(Path(root), "AffectNet root")
        image_dir = require_dir(root / IMAGE_DIR, "AffectNet manually annotated images")
        parts, problems = [], []
        for split, file_name in SPLIT_FILES.items():
            rows, split_problems = parse_list(require_file(root / LIST_DIR / file_name, f"AffectNet {split} list"))
            problems.extend(split_problems)
            if rows.empty:
                continue
            code = rows["expression"].astype(np.int64).to_numpy()
            used = code < self.num_classes
            x, y = rows["face_x"].to_numpy(), rows["face_y"].to_numpy()
            boxes = np.stack([x, y, x + rows["face_width"].to_numpy(), y + rows["face_height"].to_numpy()], axis=1)
            part = pd.DataFrame({
                "image_id": rows["subDirectory_filePath"].to_numpy(),
                "path": [str(image_dir.absolute() / p) for p in rows["subDirectory_filePath"]],
                "split": split,
                "label": np.where(used, TO_CANONICAL[np.minimum(code, 7)], -1),
                "face_box": list(boxes),
                "landmarks68": rows["landmarks68"].to_numpy(),
                "valence": rows["valence"].to_numpy(),
                "arousal": rows["arousal"].to_numpy(),
                EXCLUDED: np.where(used, "", [f"expression {c} ({CODE_NAMES[c]}) not in the {self.num_classes}-class protocol" for c in code]),
            })
            duplicated = part["image_id"].duplicated()
            for line, image_id in zip(rows.index[duplicated.to_numpy()], part["image_id"][duplicated]):
                problems.append(Problem(str(root / LIST_DIR / file_name), f"{image_id} listed again; kept once", int(line), "warning"))
            parts.append(part[~duplicated])
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["image_id", "path", "split", "label", EXCLUDED])
        df["label"] = df["label"].astype(np.int64)
        df["aligned"] = False
        return df, problems
