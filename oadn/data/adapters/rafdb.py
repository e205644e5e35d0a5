"""RAF-DB basic emotion subset, as the publisher ships it.

Layout: ``EmoLabel/list_patition_label.txt`` (sic), one ``train_00001.jpg 5`` per line, labels 1-7 = Surprise,
Fear, Disgust, Happiness, Sadness, Anger, Neutral (the canonical order, so canonical index = label - 1);
images under ``Image/aligned/<stem>_aligned.jpg`` (the publisher's 100x100 aligned faces) or
``Image/original/<stem>.jpg`` for users who align themselves. The split is the name's prefix. Published
protocol: 12,271 train / 3,068 test images, 7 classes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from oadn.data.adapters.common import EXCLUDED, FileDatasetAdapter, frame, read_lines, require_dir, require_file
from oadn.data.labels import BASIC_CLASSES
from oadn.data.on_disk import Problem
from oadn.data.registry import register_dataset

LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"
IMAGE_DIRS = {"aligned": Path("Image") / "aligned", "original": Path("Image") / "original"}
PUBLISHED_COUNTS = {"train": 12271, "test": 3068}
_LINE = re.compile(r"^(?P<stem>(?P<split>train|test)_\d+)\.jpg\s+(?P<label>\S+)$")


def image_name(stem: str, images: str) -> str:
    """File name of image ``stem`` (e.g. test_0001) in the aligned or original folder."""
    return f"{stem}_aligned.jpg" if images == "aligned" else f"{stem}.jpg"


@register_dataset("rafdb")
class RAFDB(FileDatasetAdapter):
    """RAF-DB basic, 7 classes, train/test as published."""

    description = "RAF-DB basic, 7 classes, 12,271 train / 3,068 test; images aligned|original"

    def __init__(self, images: str = "aligned"):
        if images not in IMAGE_DIRS:
            raise ValueError(f"RAF-DB images must be one of {', '.join(IMAGE_DIRS)}, got {images!r}")
        self.images = images
        self._classes = BASIC_CLASSES
        self._splits = ("train", "test")

    @property
    def protocol(self) -> str:
        return f"7 classes, {self.images} images, train = train_*, test = test_* (12,271 / 3,068)"

    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        require_dir(Path(root), "RAF-DB basic root")
        label_file = require_file(root / LABEL_FILE, "RAF-DB basic labels")
        image_dir = require_dir(root / IMAGE_DIRS[self.images], f"RAF-DB {self.images} images")
        columns: dict[str, list] = {k: [] for k in ("image_id", "path", "split", "label", EXCLUDED)}
        problems: list[Problem] = []
        seen: dict[str, int] = {}
        for line, text in enumerate(read_lines(label_file), start=1):
            if not text.strip():
                continue
            match = _LINE.match(text.strip())
            if match is None:
                problems.append(Problem(str(label_file), "expected '<train|test>_NNNN.jpg <label 1-7>', "
                                        f"got {text!r}", line))
                continue
            stem, label = match["stem"], match["label"]
            if label not in {"1", "2", "3", "4", "5", "6", "7"}:
                problems.append(Problem(str(label_file), f"unknown label {label!r} for {stem} (expected 1-7)", line))
                continue
            if stem in seen:
                problems.append(Problem(str(label_file), f"{stem} listed again (first on line {seen[stem]}); "
                                        "kept once", line, "warning"))
                continue
            seen[stem] = line
            columns["image_id"].append(stem)
            columns["path"].append(str((image_dir / image_name(stem, self.images)).absolute()))
            columns["split"].append(match["split"])
            columns["label"].append(int(label) - 1)
            columns[EXCLUDED].append("")
        df = frame(columns)
        df["aligned"] = self.images == "aligned"
        return df, problems

    def check_counts(self, usable: pd.DataFrame, root: Path) -> list[Problem]:
        found = usable["split"].value_counts()
        return [
            Problem(str(root), f"{split}: {int(found.get(split, 0))} usable images, the published protocol has {n}",
                    None, "warning")
            for split, n in PUBLISHED_COUNTS.items()
            if int(found.get(split, 0)) != n
        ]
