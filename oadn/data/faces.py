"""The one record type every data source hands to the loader, whatever produced it.

A source is anything indexable that yields :class:`FaceRecord` objects: the synthetic generator, or a real data
set read through its prepared (aligned + landmarked) cache. Keeping this contract small is what lets training,
evaluation and reports ignore where faces came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class FaceRecord:
    """One aligned face as the model sees it.

    image: H x W x 3 uint8 RGB at the model's input size.
    landmarks: 68 x 3 float32, iBUG order; x, y in pixels of ``image`` (0 = left/top edge of the first pixel's
        centre), score in [0, 1] (a detector's confidence; 0 for a point known to be missing).
    label: class index into the source's ``classes`` (for soft-label sources, the arg-max class).
    soft_target: optional probability vector over ``classes`` (FERPlus probability / cross-entropy modes).
    frame: only in a compact record (:func:`read_compact`): the model's input size, ``frame`` x ``frame``, that
        ``image`` (then S x S x 1 or 3 at the size the source stores it) is resized to on the device; the
        landmarks are in that frame.
    hidden: optional 68 bools, the truth of which points an occluder covers, where the source knows it
        (synthetic faces, pasted occluders): what the ``oracle`` and ``random-drop`` score modes read.
    donor_label: where a region of another face was swapped in, that face's class (its "donor class").
    """

    image: np.ndarray
    landmarks: np.ndarray
    label: int
    image_id: str
    soft_target: np.ndarray | None = None
    frame: int | None = None
    hidden: np.ndarray | None = None
    donor_label: int | None = None


@runtime_checkable
class FaceSource(Protocol):
    """An indexable collection of faces with labels known without decoding any image."""

    classes: tuple[str, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> FaceRecord: ...

    @property
    def labels(self) -> np.ndarray:
        """int64 label per item, in index order."""
        ...

    @property
    def image_ids(self) -> Sequence[str]:
        """Stable identifier per item, in index order (used in per-image prediction files)."""
        ...


def soft_targets(table: pd.DataFrame) -> list[np.ndarray | None]:
    """Each row's ``soft_target`` column as float32 probabilities, None where a row (or the table) has none."""
    soft = table["soft_target"].tolist() if "soft_target" in table else [None] * len(table)
    return [None if t is None or np.isscalar(t) else np.asarray(t, dtype=np.float32) for t in soft]


def read_compact(source: FaceSource, index: int, epoch: int = 0) -> FaceRecord:
    """Item ``index`` as cheaply as ``source`` can hand it to the loader: a compact record (stored pixels, resized
    on the device; see :attr:`FaceRecord.frame`) from a source that offers ``compact_record``, else ``source[index]``.
    A source whose augmentation changes from epoch to epoch (occluders drawn anew) offers ``epoch_record``, a
    pure function of (index, epoch); ``epoch`` 0 is what ``source[index]`` gives.

    A packed grey face at its own size is a small fraction of the bytes of the same face at the model's size in
    RGB, so workers, pinning and the copy to the device move far less, and no worker spends time resizing
    (docs/performance.md has the figures).
    """
    by_epoch = getattr(source, "epoch_record", None)
    if by_epoch is not None:
        return by_epoch(index, epoch)
    reader = getattr(source, "compact_record", None)
    return reader(index) if reader is not None else source[index]


class SubsetSource:
    """A view of ``source`` restricted to ``indices`` (used to carve a validation split off training data)."""

    def __init__(self, source: FaceSource, indices: Sequence[int]):
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64)
        self.classes = source.classes

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> FaceRecord:
        return self.source[int(self.indices[index])]

    def epoch_record(self, index: int, epoch: int) -> FaceRecord:
        return read_compact(self.source, int(self.indices[index]), epoch)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.source.labels)[self.indices]

    @property
    def image_ids(self) -> Sequence[str]:
        ids = self.source.image_ids
        return [ids[i] for i in self.indices]


class BadImageError(RuntimeError):
    """An image file that cannot be decoded (missing, truncated, not an image).

    Raised by sources while reading one item; the loader skips the item and records it in the run directory
    (``data.on_bad_image = "skip"``) or stops the run (``"fail"``).
    """

    def __init__(self, image_id: str, path: str, reason: str):
        super().__init__(f"{path}: cannot read image {image_id!r}: {reason}")
        self.image_id = image_id
        self.path = path
        self.reason = reason
