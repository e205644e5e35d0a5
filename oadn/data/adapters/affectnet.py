"""AffectNet (manually annotated part), read from the publisher's CSV file lists without touching the images.

Layout: ``Manually_Annotated_file_lists/{training,validation}.csv`` with the columns subDirectory_filePath,
face_x, face_y, face_width, face_height, facial_landmarks (68 x,y pairs as 136 ';'-separated floats),
expression, valence, arousal; images under ``Manually_Annotated_Images/<subDirectory_filePath>``. A header
line is accepted when present (copies differ). Expression codes: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise,
4 Fear, 5 Disgust, 6 Anger, 7 Contempt, 8 None, 9 Uncertain, 10 No-Face.

Protocols: 7 classes (codes 0-6) or 8 (0-7); codes 8-10 are never used; the validation set is the test set
(AffectNet's own test set is unreleased). The CSV's face boxes and landmarks (no confidence scores) are
emitted as ``face_box`` (x0, y0, x1, y1) and ``landmarks68``, valence and arousal as columns of those names.

Speed: lines are split with plain str methods (which keep exact line numbers for malformed lines), numbers are
parsed column-wise by pandas, and the 136 landmark values only for rows in the protocol, so even the full
~300k-row files index without opening an image (docs/data.md).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from oadn.data.adapters.common import EXCLUDED, FileDatasetAdapter, outside_root, require_dir, require_file
from oadn.data.labels import canonical_index, class_space
from oadn.data.on_disk import Problem
from oadn.data.registry import register_dataset

LIST_DIR = Path("Manually_Annotated_file_lists")
IMAGE_DIR = Path("Manually_Annotated_Images")
SPLIT_FILES = {"train": "training.csv", "test": "validation.csv"}
HEADER = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
          "expression", "valence", "arousal")
CODE_NAMES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt",
              "none", "uncertain", "no-face")
#: canonical index of expression codes 0-7
TO_CANONICAL = np.array([canonical_index(name) for name in CODE_NAMES[:8]], dtype=np.int64)


def parse_list(path: Path, num_classes: int) -> tuple[pd.DataFrame, list[Problem]]:
    """Rows of one CSV list (columns of HEADER, numbers parsed; index = line number) and its malformed lines.

    Landmarks are parsed to floats only for rows whose code is in the ``num_classes`` protocol (parsing 136
    numbers per row is most of the cost); other rows only need the right count of values.
    """
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    start = 1 if lines and lines[0].startswith(HEADER[0]) else 0
    problems: list[Problem] = []
    split, kept = [], []
    for line in range(start, len(lines)):
        fields = lines[line].split(",")
        if len(fields) == len(HEADER):
            split.append(fields)
            kept.append(line + 1)
        elif lines[line].strip():
            problems.append(Problem(str(path), f"expected {len(HEADER)} comma-separated fields ({', '.join(HEADER)}), "
                                    f"got {len(fields)}", line + 1))
    if not split:
        return pd.DataFrame(columns=list(HEADER)), problems
    columns = dict(zip(HEADER, (np.array(c, dtype=object) for c in zip(*split))))
    line_numbers = np.array(kept)
    parsed = {c: _floats(columns[c]) for c in HEADER[1:5] + HEADER[6:]}
    code = parsed["expression"]
    bad_numbers = np.any([np.isnan(v) for v in parsed.values()], axis=0)
    bad_code = ~bad_numbers & ((code % 1 != 0) | (code < 0) | (code > 10))
    in_protocol = ~bad_numbers & ~bad_code & (code < num_classes)
    texts = columns["facial_landmarks"]
    landmarks = np.full((len(texts), 136), np.nan)
    landmarks[in_protocol] = _parse_landmarks(texts[in_protocol].tolist())
    wrong_count = np.array([t.count(";") != 135 for t in texts], dtype=bool)
    bad_landmarks = np.where(in_protocol, np.isnan(landmarks).any(axis=1), wrong_count) & ~bad_numbers & ~bad_code
    for row in np.flatnonzero(bad_numbers):
        fields = ", ".join(f"{c}={columns[c][row]!r}" for c, v in parsed.items() if np.isnan(v[row]))
        problems.append(Problem(str(path), f"expected numbers, got {fields}", int(line_numbers[row])))
    for row in np.flatnonzero(bad_code):
        problems.append(Problem(str(path), f"unknown expression code {columns['expression'][row]!r} (expected 0-10)",
                                int(line_numbers[row])))
    for row in np.flatnonzero(bad_landmarks):
        problems.append(Problem(str(path), "facial_landmarks: expected 136 ';'-separated numbers (68 x,y pairs)",
                                int(line_numbers[row])))
    good = ~(bad_numbers | bad_code | bad_landmarks)
    rows = pd.DataFrame({c: v[good] for c, v in parsed.items()}, index=line_numbers[good])
    rows["subDirectory_filePath"] = [p.strip() for p in columns["subDirectory_filePath"][good]]
    rows["landmarks68"] = [row if used else None for row, used in zip(landmarks[good], in_protocol[good])]
    problems.sort(key=lambda p: p.line or 0)
    return rows, problems


def _floats(values: np.ndarray) -> np.ndarray:
    """float64 per string, NaN where a string is not a number (numpy's fast path first, pandas' when one fails)."""
    try:
        return values.astype(np.float64)
    except ValueError:
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)


def _parse_landmarks(column: list[str]) -> np.ndarray:
    """N x 136 floats (a row of NaN where the count is wrong or a value is not a number), via pandas' C reader."""
    if not column:
        return np.zeros((0, 136))
    filler = ";" * 135
    text = "\n".join(s if s.count(";") == 135 else filler for s in column)
    parsed = pd.read_csv(io.StringIO(text), sep=";", header=None, engine="c", names=range(136), skip_blank_lines=False)
    for c in parsed.columns[parsed.dtypes == object]:  # only columns holding a non-number need the slow path
        parsed[c] = pd.to_numeric(parsed[c], errors="coerce")
    return parsed.to_numpy(dtype=np.float64)


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
        return (f"{self.num_classes} classes (codes 0-{self.num_classes - 1}), train = training.csv, "
                "test = validation.csv")

    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        require_dir(Path(root), "AffectNet root")
        image_dir = require_dir(root / IMAGE_DIR, "AffectNet manually annotated images")
        parts, problems = [], []
        for split, file_name in SPLIT_FILES.items():
            rows, split_problems = parse_list(require_file(root / LIST_DIR / file_name, f"AffectNet {split} list"),
                                              self.num_classes)
            problems.extend(split_problems)
            outside = [(line, why) for line, relative in zip(rows.index, rows["subDirectory_filePath"])
                       if (why := outside_root(image_dir, relative))]
            problems.extend(Problem(str(root / LIST_DIR / file_name), f"subDirectory_filePath {why}", int(line),
                                    kind="an image path outside the data set's root") for line, why in outside)
            rows = rows.drop(index=[line for line, _ in outside])
            if rows.empty:
                continue
            code = rows["expression"].astype(np.int64).to_numpy()
            used = code < self.num_classes
            x, y = rows["face_x"].to_numpy(), rows["face_y"].to_numpy()
            boxes = np.stack([x, y, x + rows["face_width"].to_numpy(), y + rows["face_height"].to_numpy()], axis=1)
            part = pd.DataFrame({
                "image_id": rows["subDirectory_filePath"].to_numpy(),
                "path": [f"{image_dir.absolute()}{os.sep}{p}" for p in rows["subDirectory_filePath"]],
                "split": split,
                "label": np.where(used, TO_CANONICAL[np.minimum(code, 7)], -1),
                "face_box": list(boxes),
                "landmarks68": rows["landmarks68"].to_numpy(),
                "valence": rows["valence"].to_numpy(),
                "arousal": rows["arousal"].to_numpy(),
                EXCLUDED: np.where(used, "", [f"expression {c} ({CODE_NAMES[c]}) not in the "
                                              f"{self.num_classes}-class protocol" for c in code]),
            })
            duplicated = part["image_id"].duplicated()
            for line, image_id in zip(rows.index[duplicated.to_numpy()], part["image_id"][duplicated]):
                problems.append(Problem(str(root / LIST_DIR / file_name), f"{image_id} listed again; kept once",
                                        int(line), "warning"))
            parts.append(part[~duplicated])
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["image_id", "path", "split", "label", EXCLUDED])
        df["label"] = df["label"].astype(np.int64)
        df["aligned"] = False
        return df, problems
