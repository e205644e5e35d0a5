"""What every data source hands on, whatever produced it: batches of faces as arrays, and single records.

A source (:class:`FaceSource`) is indexable and declares ONE read: :meth:`FaceSource.read`, a batch of faces as
stacked arrays at the resolution the source stores them (a pack's 48 px grey faces stay 48 px grey; the device
resizes them to the model's frame). A source over an array reads a batch as one slice; wrappers (a subset, pasted
occluders) forward the read to the source below, so the compact path is never lost. ``source[i]`` is the same
face as a full-size RGB :class:`FaceRecord` at the model's size, for figures and tools.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from oadn.data.aligned_frame import resize_faces

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class FaceRecord:
    """One aligned face at the model's input size.

    image: H x W x 3 uint8 RGB.
    landmarks: 68 x 3 float32, iBUG order; x, y in pixels of ``image`` (pixel i's centre at i), score in [0, 1] (a
        detector's confidence; 0 for a point known to be missing).
    label: class index into the source's ``classes`` (for soft-label sources, the arg-max class).
    soft_target: optional probability vector over ``classes`` (FERPlus probability / cross-entropy modes).
    hidden: optional 68 bools, the truth of which points an occluder covers, where the source knows it
        (synthetic faces, pasted occluders): what the ``oracle`` and ``random-drop`` score modes read.
    donor_label: where a region of another face was swapped in, that face's class (its "donor class").
    """

    image: np.ndarray
    landmarks: np.ndarray
    label: int
    image_id: str
    soft_target: np.ndarray | None = None
    hidden: np.ndarray | None = None
    donor_label: int | None = None


@dataclass
class FaceBatch:
    """Faces as a source hands them to the loader: stacked arrays, images as stored.

    images: B x S x S x C uint8 at the source's stored size S, C = 1 (grey) or 3; the device resizes them to
        ``frame`` (:func:`oadn.data.aligned_frame.resize_faces`).
    landmarks: B x 68 x 3 float32 in the model's frame (``frame`` x ``frame`` pixels).
    labels, indices: B int64: class and position in the source read.
    keys: B uint64: each face's key for per-face random draws (:func:`oadn.common.seeding.uniform_for`), a hash
        of its image id, so a face draws the same whatever split or subset it is read through.
    hidden: B x 68 bools where the source knows which points are covered; donors: B int64, a swapped-in region's
        class or -1; soft_targets: B x classes float32 where the source has them.
    bad: (image id, path, reason) of faces in the request that could not be read; they are not in the arrays.
    """

    images: np.ndarray
    landmarks: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    keys: np.ndarray
    frame: int
    hidden: np.ndarray | None = None
    donors: np.ndarray | None = None
    soft_targets: np.ndarray | None = None
    bad: list[tuple[str, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def stored_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def found(self) -> np.ndarray:
        """Per face, whether the detector found it (some landmark score above 0)."""
        return self.landmarks[..., 2].max(axis=1) > 0 if len(self) else np.zeros(0, dtype=bool)

    def take(self, positions: np.ndarray) -> "FaceBatch":
        """The faces at ``positions`` (indices or a bool mask into this batch); ``bad`` is kept as it is."""
        def pick(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[positions]

        return replace(self, images=self.images[positions], landmarks=self.landmarks[positions],
                       labels=self.labels[positions], indices=self.indices[positions], keys=self.keys[positions],
                       hidden=pick(self.hidden), donors=pick(self.donors), soft_targets=pick(self.soft_targets))

    def full_images(self) -> np.ndarray:
        """B x frame x frame x 3 uint8 RGB: the faces as the model sees them (resized as the device resizes)."""
        import torch

        faces = resize_faces(torch.from_numpy(np.ascontiguousarray(self.images)).permute(0, 3, 1, 2), self.frame)
        return faces.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()

    def record(self, position: int, image_id: str) -> FaceRecord:
        """Face ``position`` of the batch as a full-size record."""
        one = self.take(np.array([position]))
        return FaceRecord(
            image=one.full_images()[0], landmarks=one.landmarks[0].copy(), label=int(one.labels[0]),
            image_id=image_id, soft_target=None if one.soft_targets is None else one.soft_targets[0],
            hidden=None if one.hidden is None else one.hidden[0],
            donor_label=None if one.donors is None or one.donors[0] < 0 else int(one.donors[0]),
        )


class FaceSource(ABC):
    """An indexable collection of faces with labels known without decoding any image."""

    classes: tuple[str, ...]

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def labels(self) -> np.ndarray:
        """int64 label per item, in index order."""

    @property
    @abstractmethod
    def image_ids(self) -> Sequence[str]:
        """Stable identifier per item, in index order (used in per-image prediction files)."""

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """What the faces' pixels and landmarks depend on, as a string (files derived from them, such as an
        occluded test split kept on disk, are keyed by it)."""

    @abstractmethod
    def read(self, indices: np.ndarray, epoch: int = 0) -> FaceBatch:
        """Items ``indices`` as a batch, with ``epoch``'s augmentation where the source has its own (occluders
        drawn anew each epoch; epoch 0 is what test sets and ``source[i]`` show)."""

    def __getitem__(self, index: int) -> FaceRecord:
        """Item ``index`` (epoch 0) as a full-size record; BadImageError where it cannot be read."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} faces")
        index = int(index) % len(self)
        batch = self.read(np.array([index], dtype=np.int64))
        if not len(batch):
            raise BadImageError(*batch.bad[0])
        return batch.record(0, self.image_ids[index])


def soft_target_array(table: pd.DataFrame) -> np.ndarray | None:
    """The table's ``soft_target`` column as N x classes float32 probabilities; None where a row (or the table)
    has none."""
    if "soft_target" not in table or not len(table):
        return None
    soft = table["soft_target"].tolist()
    if any(t is None or np.isscalar(t) for t in soft):
        return None
    return np.stack([np.asarray(t, dtype=np.float32) for t in soft])


def stack_records(records: Sequence[FaceRecord], indices: np.ndarray, keys: np.ndarray, frame: int,
                  bad: list[tuple[str, str, str]] | None = None) -> FaceBatch:
    """A batch of full-size records (a source that draws its faces one by one, as the synthetic one does)."""
    if not records:
        return FaceBatch(np.zeros((0, frame, frame, 3), np.uint8), np.zeros((0, 68, 3), np.float32),
                         np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64), frame, bad=bad or [])
    hidden = None if any(r.hidden is None for r in records) else np.stack([r.hidden for r in records])
    soft = None if any(r.soft_target is None for r in records) else np.stack([r.soft_target for r in records])
    donors = np.array([-1 if r.donor_label is None else r.donor_label for r in records], dtype=np.int64)
    return FaceBatch(
        images=np.stack([r.image for r in records]), landmarks=np.stack([r.landmarks for r in records]),
        labels=np.array([r.label for r in records], dtype=np.int64), indices=np.asarray(indices, dtype=np.int64),
        keys=np.asarray(keys, dtype=np.uint64), frame=frame, hidden=hidden,
        donors=donors if (donors >= 0).any() else None, soft_targets=soft, bad=bad or [],
    )


class SubsetSource(FaceSource):
    """A view of ``source`` restricted to ``indices`` (used to carve a validation split off training data)."""

    def __init__(self, source: FaceSource, indices: Sequence[int]):
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64)
        self.classes = source.classes

    def __len__(self) -> int:
        return len(self.indices)

    def read(self, indices: np.ndarray, epoch: int = 0) -> FaceBatch:
        asked = np.asarray(indices, dtype=np.int64)
        below = self.indices[asked]
        batch = self.source.read(below, epoch)
        # the faces that were read, in the order asked (a face is readable or not whichever copy of it is asked)
        return replace(batch, indices=asked[np.isin(below, batch.indices)])

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.source.labels)[self.indices]

    @property
    def image_ids(self) -> Sequence[str]:
        ids = self.source.image_ids
        return [ids[i] for i in self.indices]

    @property
    def fingerprint(self) -> str:
        import hashlib

        return f"{self.source.fingerprint}|subset:{hashlib.sha256(self.indices.tobytes()).hexdigest()[:16]}"


class BadImageError(RuntimeError):
    """An image file that cannot be decoded (missing, truncated, not an image).

    Sources leave such a face out of a batch and name it in the batch's ``bad`` list; the loader records it in
    the run directory (``data.on_bad_image = "skip"``) or stops the run (``"fail"``).
    """

    def __init__(self, image_id: str, path: str, reason: str):
        super().__init__(f"{path}: cannot read image {image_id!r}: {reason}")
        self.image_id = image_id
        self.path = path
        self.reason = reason
