"""Pasted occlusion as a data transform: any face source with occluders pasted on its aligned faces and its
landmark scores re-set, as a test set or as augmentation (the ``occluded`` data set,
:mod:`oadn.data.adapters.occluded`, wraps any registered data set with it).

Options: ``base`` (the data set wrapped; its own options pass through), ``kind`` (one kind or a list: each face
draws one), ``area`` (share of the face covered, or ``any``: a random size, drawn ten times faster, for
augmentation), ``probability`` (share of faces occluded; 1 for a test set, e.g. 0.5 for training augmentation),
``occluder_seed``, ``train_limit`` (keep that many training faces, a fixed random draw: for CPU-sized runs), and
``scores``, how the landmark scores of an occluded face are set:

- ``backend``: unchanged (dlib gives 1.0 everywhere, so nothing is dropped);
- ``oracle``: points under the pasted mask get 0, the others keep theirs;
- ``detector``: dlib re-run on the occluded face (new positions; dlib has no scores, so all 1.0);
- ``learned``: a visibility model (``visibility=FILE`` from ``oadn-bench fit-visibility``) scores every point.

``kind=none`` pastes nothing, so ``scores=learned`` re-scores a data set's own faces (e.g. Occlusion-FERPlus).
Occluders are fixed per (seed, image): the same face always gets the same occluder, in any order or process.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from oadn.data.faces import FaceRecord, FaceSource
from oadn.data.occluders.canvas import points_under
from oadn.data.occluders.real import KINDS, image_rng, occlude

SCORE_MODES = ("backend", "oracle", "detector", "learned")


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
                 scores: str, rescorer: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None):
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
