"""FERPlus: FER2013 images with Microsoft's 10-annotator votes, in the layout of FERPlus's generate_training_data.py.

Layout: ``FER2013{Train,Valid,Test}/label.csv`` (no header: name, face box, votes for neutral, happiness,
surprise, sadness, anger, disgust, fear, contempt, unknown, NF) next to the PNGs, plus ``fer2013new.csv``
(Usage, Image name, the same ten vote columns). The folder label files are the primary source (they are what
the upstream generator wrote and what FERPlus's reader loads); ``check`` cross-checks them against
fer2013new.csv and reports every difference as a warning.

Label modes. Ground truth is Barsoum et al. 2016 (arXiv:1608.01041) and microsoft/FERPlus ``src/ferplus.py``
(``_process_data`` / ``_process_target``), whose modes are majority, probability and crossentropy:

* ``majority`` (the official rule): drop vote counts of 1 or less; the class with more than half of the
  remaining votes wins, else the image is unknown and left out; unknown or NF winners are left out.
* ``probability`` (the paper's "probabilistic label drawing"): a distribution built as FERPlus's reader does:
  after dropping counts <= 1, take classes in descending vote order (ties taken together, in column order)
  until they hold >= 75% of the votes or three classes are taken; reaching unknown/NF stops the sweep (and
  discards the image when nothing came before it); the image is discarded when the taken classes hold no more
  than half the votes or more than three were taken. Training draws a one-hot label from it each time the
  image is used: ``target_mode = "sample"``.
* ``crossentropy`` (the paper's "cross-entropy loss"): the same distribution, used directly as the target of
  a soft cross-entropy: ``target_mode = "soft"``.
* ``plurality`` (not an upstream mode; the usual "most votes wins" single label): arg-max of the raw votes.
  A plurality must be strict: an image whose top count is shared by two or more columns is left out, as is one
  whose winner is unknown or NF.

``label`` is always one canonical class; for the two distribution modes it is the arg-max of the distribution
(ties go to the earlier fer2013new column, as ``np.argmax`` does upstream). ``soft_target`` (canonical order)
and a ``target_mode`` column are emitted for those two modes only.

Known upstream quirk: two fer2013 PrivateTest rows are both named ``fer0033120.png``; the PNG holds the pixels
of one (a non-face icon) and label.csv the votes of the other. The image's label is wrong whatever mode is
used, so it is left out of every protocol (the index and ``check`` say so).

Protocols: ``official`` (train = FER2013Train, val = FER2013Valid, test = FER2013Test) and ``ran`` (the RAN
protocol the OADN paper follows: train = FER2013Train + FER2013Valid, test = FER2013Test).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from oadn.data.adapters.common import EXCLUDED, FileDatasetAdapter, frame, outside_root, require_dir, require_file
from oadn.data.labels import CANONICAL_CLASSES, canonical_index
from oadn.data.on_disk import Problem
from oadn.data.registry import register_dataset

#: fer2013new.csv vote columns, in file order
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
#: canonical index of each of the 8 emotion vote columns
TO_CANONICAL = np.array([canonical_index(name) for name in VOTE_COLUMNS[:8]], dtype=np.int64)
#: folder -> fer2013 Usage
FOLDERS = {"FER2013Train": "Training", "FER2013Valid": "PublicTest", "FER2013Test": "PrivateTest"}
PROTOCOL_SPLITS = {
    "official": {"FER2013Train": "train", "FER2013Valid": "val", "FER2013Test": "test"},
    "ran": {"FER2013Train": "train", "FER2013Valid": "train", "FER2013Test": "test"},
}
LABEL_MODES = ("majority", "plurality", "probability", "crossentropy")
LABEL_MODE_TARGETS = {"majority": "hard", "plurality": "hard", "probability": "sample", "crossentropy": "soft"}
#: (folder, name) of images whose label file row describes other pixels (see the module docstring)
KNOWN_MISLABELLED = {("FER2013Test", "fer0033120.png"): "two fer2013 rows share this name; the PNG holds the "
                     "other row's pixels (a non-face icon), so its label.csv votes are not its own"}
#: largest plausible vote count; larger ones are malformed (and would overflow the int64 arithmetic of the rules)
MAX_VOTES = 10_000
_BOX = re.compile(r"^\(\s*(-?\d+),\s*(-?\d+),\s*(-?\d+),\s*(-?\d+)\s*\)$")


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """FERPlus's majority rule over N x 10 votes: winning column index (0-7), or -1 when left out."""
    kept = np.where(votes <= 1, 0, votes)
    winner = kept.argmax(axis=1)
    valid = (kept.max(axis=1) * 2 > kept.sum(axis=1)) & (winner < 8)
    return np.where(valid, winner, -1)


def plurality_labels(votes: np.ndarray) -> np.ndarray:
    """Strict plurality over N x 10 raw votes: winning column index (0-7), or -1 on a tie or unknown/NF."""
    top = votes.max(axis=1, keepdims=True)
    unique = (votes == top).sum(axis=1) == 1
    winner = votes.argmax(axis=1)
    return np.where(unique & (winner < 8) & (top[:, 0] > 0), winner, -1)


def vote_distribution(votes: np.ndarray) -> np.ndarray | None:
    """FERPlus's probability/crossentropy distribution over the 8 emotion columns, or None when discarded."""
    remaining = np.where(votes <= 1, 0, votes).astype(np.float64)
    total = remaining.sum()
    taken = np.zeros(10)
    count = 0
    while taken.sum() < 0.75 * total and count < 3:
        top = remaining.max()
        stop = False
        for column in np.flatnonzero(remaining == top):
            if column >= 8:  # unknown / NF: ends the sweep; alone, it makes the image unusable
                if taken.sum() == 0:
                    return None
                stop = True
                break
            taken[column] = top
            remaining[column] = 0
            count += 1
        if stop:
            break
    if taken.sum() <= 0.5 * total or count > 3:
        return None
    return taken[:8] / taken.sum()


def _to_canonical(distribution: np.ndarray) -> list[float]:
    target = np.zeros(len(CANONICAL_CLASSES))
    target[TO_CANONICAL] = distribution
    return target.tolist()


def read_label_csv(path: Path, folder: str) -> tuple[list[tuple[int, str, list[float], list[int]]], list[Problem]]:
    """Rows (line, name, face box, 10 votes) of one folder's label.csv and its malformed lines."""
    rows, problems = [], []
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for line, fields in enumerate(csv.reader(handle), start=1):
            if not fields:
                continue
            if len(fields) != 12:
                problems.append(Problem(str(path), "expected 12 fields (name, box, 10 votes), "
                                        f"got {len(fields)}", line))
                continue
            name, box_text, vote_text = fields[0].strip(), fields[1].strip(), fields[2:]
            box = _BOX.match(box_text)
            if not name.endswith(".png") or box is None:
                problems.append(Problem(str(path), "expected 'ferNNNNNNN.png,\"(x0, y0, x1, y1)\"', "
                                        f"got {name!r}, {box_text!r}", line))
                continue
            try:
                votes = [int(v) for v in vote_text]
            except ValueError:
                problems.append(Problem(str(path), f"expected 10 integer vote counts, got {vote_text}", line))
                continue
            if min(votes) < 0:
                problems.append(Problem(str(path), f"negative vote count in {votes}", line))
                continue
            if max(votes) > MAX_VOTES:
                problems.append(Problem(str(path), f"vote count {max(votes)} out of range (expected 0..{MAX_VOTES}; "
                                        "FERPlus images have about 10 annotators)", line))
                continue
            if name in seen:
                problems.append(Problem(str(path), f"{name} listed again (first on line {seen[name]}); kept once",
                                        line, "warning"))
                continue
            seen[name] = line
            rows.append((line, name, [float(v) for v in box.groups()], votes))
    return rows, problems


def cross_check(root: Path, labels: dict[tuple[str, str], tuple[int, list[int]]]) -> list[Problem]:
    """Warnings where the folder label files and fer2013new.csv disagree (by Usage and name)."""
    master = root / "fer2013new.csv"
    if not master.is_file():
        return [Problem(str(master), "missing; label.csv files are used, but cannot be cross-checked", None, "warning")]
    by_key: dict[tuple[str, str], list[tuple[int, list[int]]]] = {}
    problems = []
    with master.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        if [h.strip() for h in header] != ["Usage", "Image name", *VOTE_COLUMNS]:
            problems.append(Problem(str(master), f"unexpected header {header}", 1, "warning"))
        for line, fields in enumerate(reader, start=2):
            if len(fields) != 12 or not fields[1].strip():
                continue  # FERPlus leaves the name empty for the images it dropped
            try:
                votes = [int(v) for v in fields[2:]]
            except ValueError:
                problems.append(Problem(str(master), f"expected 10 integer vote counts, got {fields[2:]}",
                                        line, "warning"))
                continue
            by_key.setdefault((fields[0].strip(), fields[1].strip()), []).append((line, votes))
    usage_of = {usage: folder for folder, usage in FOLDERS.items()}
    for (usage, name), entries in by_key.items():
        if len({tuple(v) for _, v in entries}) > 1 and usage in usage_of:
            lines = ", ".join(str(line) for line, _ in entries)
            problems.append(Problem(str(master), f"{usage} name {name} on lines {lines} with different votes: "
                                    "which row the PNG holds is ambiguous", entries[0][0], "warning",
                                    "two fer2013new.csv rows share a name with different votes"))
    for (folder, name), (line, votes) in labels.items():
        entries = by_key.get((FOLDERS[folder], name))
        label_file = str(root / folder / "label.csv")
        if entries is None:
            problems.append(Problem(label_file, f"{name} has no {FOLDERS[folder]} row in fer2013new.csv", line,
                                    "warning", "image has no row in fer2013new.csv"))
        elif all(v != votes for _, v in entries):
            problems.append(Problem(label_file, f"{name} votes {votes} differ from fer2013new.csv line "
                                    f"{entries[0][0]} {entries[0][1]} (label.csv is used)", line, "warning",
                                    "label.csv votes differ from fer2013new.csv (label.csv is used)"))
    return problems


@register_dataset("ferplus")
class FERPlus(FileDatasetAdapter):
    """FERPlus, 8 classes, under one label mode and one split protocol."""

    description = ("FERPlus (FER2013 + Microsoft votes), 8 classes; "
                   "label_mode majority|plurality|probability|crossentropy, protocol official|ran")

    def __init__(self, label_mode: str = "majority", protocol: str = "official"):
        if label_mode not in LABEL_MODES:
            raise ValueError(f"FERPlus label_mode must be one of {', '.join(LABEL_MODES)}, got {label_mode!r}")
        if protocol not in PROTOCOL_SPLITS:
            raise ValueError(f"FERPlus protocol must be one of {', '.join(PROTOCOL_SPLITS)}, got {protocol!r}")
        self.label_mode = label_mode
        self.protocol_name = protocol
        self.target_mode = LABEL_MODE_TARGETS[label_mode]
        self._classes = CANONICAL_CLASSES
        self._splits = tuple(dict.fromkeys(PROTOCOL_SPLITS[protocol].values()))

    @property
    def protocol(self) -> str:
        folders = PROTOCOL_SPLITS[self.protocol_name]
        splits = "; ".join(f"{s} = {' + '.join(f for f, t in folders.items() if t == s)}" for s in self._splits)
        return f"{self.label_mode} labels ({self.target_mode} targets), {self.protocol_name} splits: {splits}"

    def _labels(self, votes: np.ndarray) -> tuple[np.ndarray, list[list[float] | None]]:
        if self.label_mode == "majority":
            return majority_labels(votes), [None] * len(votes)
        if self.label_mode == "plurality":
            return plurality_labels(votes), [None] * len(votes)
        distributions = [vote_distribution(v) for v in votes]
        winners = np.array([-1 if d is None else int(np.argmax(d)) for d in distributions], dtype=np.int64)
        return winners, [None if d is None else _to_canonical(d) for d in distributions]

    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        require_dir(Path(root), "FERPlus root")
        columns: dict[str, list] = {k: [] for k in ("image_id", "path", "split", "label", "face_box", "soft_target",
                                                    EXCLUDED)}
        problems: list[Problem] = []
        parsed: dict[tuple[str, str], tuple[int, list[int]]] = {}
        for folder, split in PROTOCOL_SPLITS[self.protocol_name].items():
            directory = require_dir(root / folder, f"FERPlus {FOLDERS[folder]} images")
            rows, folder_problems = read_label_csv(require_file(directory / "label.csv", "FERPlus votes"), folder)
            problems.extend(folder_problems)
            if not rows:
                problems.append(Problem(str(directory / "label.csv"), f"lists no image: split {split!r} is empty",
                                        severity="warning", kind="an empty label.csv"))
                continue
            votes = np.array([r[3] for r in rows], dtype=np.int64)
            winners, targets = self._labels(votes)
            for (line, name, box, row_votes), winner, target in zip(rows, winners, targets):
                outside = outside_root(directory, name)
                if outside:
                    problems.append(Problem(str(directory / "label.csv"), f"image {outside}", line,
                                            kind="an image path outside the data set's root"))
                    continue
                parsed[(folder, name)] = (line, row_votes)
                reason = "" if winner >= 0 else f"no {self.label_mode} label (votes {row_votes})"
                if (folder, name) in KNOWN_MISLABELLED:
                    reason = "known upstream quirk: " + KNOWN_MISLABELLED[(folder, name)]
                    problems.append(Problem(str(directory / "label.csv"),
                                            f"{name} left out: {KNOWN_MISLABELLED[(folder, name)]}", line, "warning",
                                            "known upstream quirk: image left out"))
                columns["image_id"].append(name)
                columns["path"].append(str((directory / name).absolute()))
                columns["split"].append(split)
                columns["label"].append(int(TO_CANONICAL[winner]) if winner >= 0 else -1)
                columns["face_box"].append(box)
                columns["soft_target"].append(target)
                columns[EXCLUDED].append(reason)
        problems.extend(cross_check(root, parsed))
        df = frame(columns)
        df["aligned"] = True
        if self.target_mode == "hard":
            df = df.drop(columns="soft_target")
        else:
            df["target_mode"] = self.target_mode
        return df, problems
