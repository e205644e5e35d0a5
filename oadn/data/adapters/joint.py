"""RAF-DB + AffectNet as one 7-class training set: the FED-RO protocol's training data.

The OADN paper (following ACNN) trains on RAF-DB and AffectNet jointly and tests on FED-RO. ``root`` holds
both copies, by default as ``<root>/rafdb`` and ``<root>/affectnet`` (options ``rafdb_root`` and
``affectnet_root`` point elsewhere). Splits: train = RAF-DB train + AffectNet training.csv; test = RAF-DB test
+ AffectNet validation.csv (for monitoring only: the protocol's test set is ``fedro``). Image ids are
prefixed with their source (``rafdb/``, ``affectnet/``) and a ``source`` column says which.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from oadn.data.adapters.affectnet import AffectNet
from oadn.data.adapters.common import FileDatasetAdapter
from oadn.data.adapters.rafdb import RAFDB
from oadn.data.labels import BASIC_CLASSES
from oadn.data.on_disk import Problem
from oadn.data.registry import register_dataset


@register_dataset("rafdb+affectnet")
class RAFDBAffectNet(FileDatasetAdapter):
    """RAF-DB basic and 7-class AffectNet, concatenated per split."""

    description = "RAF-DB + AffectNet jointly, 7 classes: the FED-RO protocol's training set"

    def __init__(self, rafdb_root: str | os.PathLike | None = None, affectnet_root: str | os.PathLike | None = None,
                 images: str = "aligned"):
        self.parts = {"rafdb": RAFDB(images=images), "affectnet": AffectNet(num_classes=7)}
        self.roots = {"rafdb": rafdb_root, "affectnet": affectnet_root}
        self._classes = BASIC_CLASSES
        self._splits = ("train", "test")

    @property
    def protocol(self) -> str:
        return "7 classes, train = RAF-DB train + AffectNet training; test on fedro"

    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        frames, problems = [], []
        for source, adapter in self.parts.items():
            part_root = Path(self.roots[source] or Path(root) / source)
            df, part_problems = adapter.scanned(part_root)
            df = df.assign(image_id=source + "/" + df["image_id"], source=source)
            frames.append(df)
            problems.extend(part_problems)
        return pd.concat(frames, ignore_index=True), problems
