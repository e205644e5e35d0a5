"""Pasted occlusion as a data transform: any face source with occluders pasted on its aligned faces and its
landmark scores re-set, as a test set or as augmentation (the ``occluded`` data set,
:mod:`oadn.data.adapters.occluded`, wraps any registered data set with it).

A face draws one of the kinds, is occluded with a probability, over a share of its face (or a random share),
and its landmark scores are then set by a score mode:

- ``backend``: unchanged (dlib gives 1.0 everywhere, so nothing is dropped);
- ``oracle``: points under the pasted mask get 0, the others keep theirs;
- ``detector``: dlib re-run on the occluded face (new positions; dlib has no scores, so all 1.0);
- ``learned``: a visibility model (``visibility=FILE`` from ``oadn-bench fit-visibility``) scores every point.

``kind=none`` pastes nothing, so ``scores=learned`` re-scores a data set's own faces (e.g. Occlusion-FERPlus).
Occluders are fixed per (seed, image): the same face always gets the same occluder, in any order or process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from oadn.data.faces import FaceRecord, FaceSource
from oadn.data.landmarks.rescoring import DetectorRescorer
from oadn.data.landmarks.visibility import VisibilityScorer
from oadn.data.occluders.canvas import points_under
from oadn.data.occluders.real import KINDS, image_rng, occlude

SCORE_MODES = ("backend", "oracle", "detector", "learned")
#: (image, landmarks) -> landmarks with new scores (and, for the detector, new positions)
Rescorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def make_rescorer(scores: str, visibility: str | Path | None = None) -> Rescorer | None:
    """What re-scores an occluded face's landmarks under score mode ``scores``; None where the scores are set
    without looking at the pixels (backend, oracle)."""
    if scores == "detector":
        return DetectorRescorer()
    if scores == "learned":
        return VisibilityScorer.load(Path(visibility))
    return None


def parse_kinds(kind: str | Sequence[str]) -> tuple[str, ...]:
    """The ``kind`` option (one kind, a comma-separated list or a sequence) as a tuple of known kinds."""
    kinds = tuple(k.strip() for k in kind.split(",")) if isinstance(kind, str) else tuple(kind)
    unknown = [k for k in kinds if k not in KINDS + ("none",)]
    if not kinds or unknown:
        raise ValueError(f"occluded: unknown occluder kind(s) {unknown or kinds}; "
                         f"expected some of {', '.join(KINDS)}, none")
    return kinds


class OccludedSource:
    """A FaceSource whose faces carry a pasted occluder (with probability ``probability``) and re-set scores."""

    def __init__(self, source: FaceSource, *, kinds: tuple[str, ...], area: float | None, probability: float, seed: int,
                 scores: str, rescorer: Rescorer | None = None):
        self.source = source
        self.classes = source.classes
        self.kinds, self.area, self.probability, self.seed = kinds, area, probability, seed
        self.scores = scores
        self.rescorer = rescorer

    def __len__(self) -> int:
        return len(self.source)

    @property
    def labels(self) -> np.ndarray:
        return self.source.labels

    @property
    def image_ids(self) -> Sequence[str]:
        return self.source.image_ids

    def occlude_record(self, record: FaceRecord) -> tuple[FaceRecord, np.ndarray]:
        """The record with its occluder (or unchanged, when this face draws none) and the bool coverage mask."""
        rng = image_rng(self.seed, record.image_id)
        kind = self.kinds[int(rng.integers(0, len(self.kinds)))]
        mask = np.zeros(record.image.shape[:2], dtype=bool)
        image, landmarks = record.image, np.array(record.landmarks, dtype=np.float32)
        if kind != "none" and rng.random() < self.probability and landmarks[:, 2].max() > 0:
            occlusion = occlude(image, landmarks, kind, self.area, rng)
            image, mask = occlusion.image, occlusion.mask
        out = FaceRecord(image=image, landmarks=landmarks, label=record.label, image_id=record.image_id,
                         soft_target=record.soft_target)
        return out, mask

    def __getitem__(self, index: int) -> FaceRecord:
        record, mask = self.occlude_record(self.source[index])
        found = record.landmarks[:, 2] > 0  # a face without landmarks stays without them
        if self.scores == "oracle":
            record.landmarks[points_under(mask, record.landmarks), 2] = 0.0
        elif self.scores in ("detector", "learned") and found.any():
            record.landmarks = self.rescorer(record.image, record.landmarks)
        return record
