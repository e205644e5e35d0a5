"""The index contract of adapters over on-disk data sets.

An on-disk adapter lists its samples as a pandas DataFrame without opening any image (AffectNet has ~300k);
the preparation step (``oadn-bench prepare``) later aligns them and adds landmarks with scores.

Required columns:
    image_id   str    unique within the data set (FERPlus file name, RAF-DB image id, AffectNet subDirectory_filePath)
    path       str    absolute path of the image file
    split      str    one of the adapter's ``splits``
    label      int64  index into the adapter's ``classes``
Optional columns:
    soft_target   list[float]  probability per class (FERPlus probability / cross-entropy modes)
    face_box      list[float]  x0, y0, x1, y1 in original image pixels, when the data set ships one
    landmarks68   list[float]  136 values x0, y0, ..., x67, y67 in original image pixels (AffectNet's CSV)
    aligned       bool         the image is already an aligned face crop (RAF-DB aligned, FERPlus)
"""

from __future__ import annotations

import re
from abc import abstractmethod
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from oadn.data.faces import FaceSource
from oadn.data.registry import DatasetAdapter

INDEX_COLUMNS = ("image_id", "path", "split", "label")
#: inside parsed_once: (adapter id, root) -> (adapter, its scan)
SCANS: ContextVar[dict | None] = ContextVar("scans", default=None)


@contextmanager
def parsed_once() -> Iterator[None]:
    """Within the block each adapter parses a root's label files once: a run opens its splits, fingerprints its
    data and tests through the same adapters, and the files do not change under a run. Outside, every call
    parses them again (a command that edits a copy sees the edit)."""
    token = SCANS.set({} if SCANS.get() is None else SCANS.get())
    try:
        yield
    finally:
        SCANS.reset(token)



@dataclass
class Problem:
    """One thing wrong with a user's copy, located to a file (and line, when the problem is in a text file)."""

    file: str
    message: str
    line: int | None = None
    #: "error" when the copy cannot serve its protocol, "warning" otherwise
    severity: str = "error"
    #: short name of the kind of problem, for summaries (default: the message without its particulars)
    kind: str = ""

    @property
    def group(self) -> str:
        """The kind, or the message with numbers, bracketed lists and quoted names blanked out."""
        if self.kind:
            return self.kind
        text = re.sub(r"\[[^\]]*\]", "[...]", self.message)
        text = re.sub(r"'[^']*'", "'...'", text)
        return re.sub(r"\d+", "N", text)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{self.severity}: {where}: {self.message}"


@dataclass
class CheckReport:
    """What ``datasets check`` prints: counts per split and class, and every problem found."""

    dataset: str
    root: str
    counts: pd.DataFrame  # index: split, columns: class names, values: image counts
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


class OnDiskDatasetAdapter(DatasetAdapter):
    """An adapter over a user's copy on disk: it indexes and checks files; prepared caches give it faces."""

    needs_root = True
    checkable = True

    def split_option_names(self) -> set[str]:
        """How a prepared or packed copy is read (:class:`oadn.data.prepared.source.ReadOptions`)."""
        from dataclasses import fields

        from oadn.data.prepared.source import ReadOptions

        return {item.name for item in fields(ReadOptions)}

    @abstractmethod
    def index(self, root: Path) -> pd.DataFrame:
        """All usable samples of this protocol (see the module docstring for the columns)."""

    def preparation_index(self, root: Path) -> pd.DataFrame:
        """The images ``prepare`` aligns: by default the protocol's own, adapters may widen it so one cache
        serves every protocol of the data set."""
        return self.index(root)

    @abstractmethod
    def check(self, root: Path, *, verify_images: bool = True) -> CheckReport:
        """Every problem of the copy at ``root``, with file and line, plus counts per split and class."""

    def open_split(self, split: str, *, root: Path | None, image_size: int, **options: Any) -> FaceSource:
        if root is None:
            raise ValueError(f"data set {self.name!r} needs --root pointing at your copy of it")
        from oadn.data.pack_archive import is_pack
        from oadn.data.packed import open_packed_split

        if is_pack(Path(root)):  # a file made by `oadn-bench pack` stands in for the copy and its cache
            return open_packed_split(self, Path(root), split, image_size=image_size, **options)
        from oadn.data.prepared.source import open_prepared_split

        try:
            return open_prepared_split(self, Path(root), split, image_size=image_size, **options)
        except FileNotFoundError as no_cache:
            try:  # "run prepare" helps only when the copy is there: an empty or wrong root is named instead
                self.index(Path(root))
            except FileNotFoundError as missing:
                raise FileNotFoundError(f"{missing} (the copy of {self.name} at {root} is not complete, so it has "
                                        f"no prepared cache either)") from None
            raise no_cache
