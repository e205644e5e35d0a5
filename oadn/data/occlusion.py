"""Pasted occlusion as a data transform: any face source with occluders pasted on its aligned faces and its
landmark scores re-set, as a test set or as augmentation (the ``occluded`` data set,
:mod:`oadn.data.adapters.occluded`, wraps any registered data set with it).

A face draws one of the kinds, is occluded with a probability, over a share of its face (or a random share),
and its landmark scores are then set by a score mode:

- ``backend``: unchanged (dlib gives 1.0 everywhere, so nothing is dropped; synthetic faces carry
  detector-like scores);
- ``ones``: every point scores 1.0 (nothing is dropped at any T > 0: the all-1.0 control);
- ``oracle``: points truly hidden (under the pasted mask, under a synthetic face's own occluders, or off the
  image) get 0, every other point 1.0;
- ``random-drop``: as many points as ``oracle`` zeroes, chosen at random (per seed and image), the others 1.0:
  the control that drops as much without knowing where the occluder is;
- ``detector``: dlib re-run on the occluded face (new positions; dlib has no scores, so all 1.0);
- ``learned``: a visibility model (``visibility=FILE`` from ``oadn-bench fit-visibility``) scores every point.

A face the detector missed keeps its all-zero landmarks under every mode. Besides the painted kinds,
``swap-mouth`` and ``swap-eyes`` blend in that region of a face of ANOTHER class (:mod:`oadn.data.occluders.swap`):
false evidence, for test sets only; the record names the donor's class.
``kind=none`` pastes nothing, so ``scores=learned`` re-scores a data set's own faces (e.g. Occlusion-FERPlus).
Occluders are a pure function of (seed, image, epoch): a test face (epoch 0) always gets the same one, in any
order or process; a training face draws a new one each epoch, and a resumed run replays the same draws.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable, Hashable, Sequence

import numpy as np

from oadn.data.faces import FaceRecord, FaceSource
from oadn.data.landmarks.rescoring import DetectorRescorer
from oadn.data.landmarks.visibility import VisibilityScorer
from oadn.data.occluders.canvas import points_under
from oadn.data.occluders.real import KINDS, image_rng, occlude
from oadn.data.occluders.swap import SWAP_KINDS, swap_region
from oadn.data.occlusion_memo import TEST_OCCLUSIONS

SCORE_MODES = ("backend", "ones", "oracle", "random-drop", "detector", "learned")
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
    known = KINDS + SWAP_KINDS + ("none",)
    unknown = [k for k in kinds if k not in known]
    if not kinds or unknown:
        raise ValueError(f"occluded: unknown occluder kind(s) {unknown or kinds}; expected some of {', '.join(known)}")
    return kinds


def random_drop(hidden: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scores for ``random-drop`` on a found face: as many points as ``hidden`` marks get 0, chosen at random, the
    others 1.0."""
    scores = np.ones(len(hidden), dtype=np.float32)
    scores[rng.choice(len(hidden), size=int(hidden.sum()), replace=False)] = 0.0
    return scores


def _donor(labels: np.ndarray, label: int, rng: np.random.Generator) -> int | None:
    """A face of another class, drawn uniformly; None when the source has a single class."""
    others = np.flatnonzero(labels != label)
    return int(others[rng.integers(0, len(others))]) if len(others) else None


class OccludedSource:
    """A FaceSource whose faces carry a pasted occluder (with probability ``probability``) and re-set scores.

    With a ``memo_key`` (a test split), the occluded faces of epoch 0 are kept in
    :data:`oadn.data.occlusion_memo.TEST_OCCLUSIONS` under it, shared by every source of the same key, whatever its
    score mode: the key must name everything the occluded pixels depend on.
    """

    def __init__(self, source: FaceSource, *, kinds: tuple[str, ...], area: float | None, probability: float, seed: int,
                 scores: str, rescorer: Rescorer | None = None, memo_key: Hashable | None = None):
        self.source = source
        self.memo_key = memo_key
        self.classes = source.classes
        self.kinds, self.area, self.probability, self.seed = kinds, area, probability, seed
        self.scores = scores
        self.rescorer = rescorer
        self._labels = np.asarray(source.labels)  # read once: a swap draws its donor from them for every face

    def __len__(self) -> int:
        return len(self.source)

    @property
    def labels(self) -> np.ndarray:
        return self.source.labels

    @property
    def image_ids(self) -> Sequence[str]:
        return self.source.image_ids

    def occlude_record(self, record: FaceRecord, epoch: int = 0) -> tuple[FaceRecord, np.ndarray]:
        """The record with its occluder (or unchanged, when this face draws none) and the bool coverage mask."""
        rng = image_rng(self.seed, record.image_id, epoch)
        kind = self.kinds[int(rng.integers(0, len(self.kinds)))]
        mask = np.zeros(record.image.shape[:2], dtype=bool)
        image, landmarks = record.image, np.array(record.landmarks, dtype=np.float32)
        donor_label = None
        if kind != "none" and rng.random() < self.probability and landmarks[:, 2].max() > 0:
            if kind in SWAP_KINDS:
                donor = _donor(self._labels, record.label, rng)
                donor_record = None if donor is None else self.source[donor]
                if donor_record is not None and donor_record.landmarks[:, 2].max() > 0:
                    occlusion = swap_region(image, landmarks, donor_record.image, donor_record.landmarks, kind)
                    image, mask, donor_label = occlusion.image, occlusion.mask, donor_record.label
            else:
                occlusion = occlude(image, landmarks, kind, self.area, rng)
                image, mask = occlusion.image, occlusion.mask
        height, width = image.shape[:2]
        off_image = ~np.all((landmarks[:, :2] >= 0) & (landmarks[:, :2] <= [width - 1, height - 1]), axis=1)
        hidden = points_under(mask, landmarks) | off_image
        if record.hidden is not None:
            hidden |= record.hidden
        out = FaceRecord(image=image, landmarks=landmarks, label=record.label, image_id=record.image_id,
                         soft_target=record.soft_target, hidden=hidden, donor_label=donor_label)
        return out, mask

    def __getitem__(self, index: int) -> FaceRecord:
        return self.epoch_record(index, 0)

    def epoch_record(self, index: int, epoch: int) -> FaceRecord:
        """Item ``index`` with the occluder of ``epoch`` and its scores set by the score mode."""
        def occluded() -> FaceRecord:
            return self.occlude_record(self.source[index], epoch)[0]

        if epoch == 0 and self.memo_key is not None:
            record = TEST_OCCLUSIONS.record(self.memo_key, index, occluded)
        else:
            record = occluded()
        if record.landmarks[:, 2].max() <= 0:  # a face the detector missed stays without landmarks
            return record
        if self.scores == "ones":
            record.landmarks[:, 2] = 1.0
        elif self.scores == "oracle":
            record.landmarks[:, 2] = ~record.hidden
        elif self.scores == "random-drop":
            rng = np.random.default_rng([self.seed, zlib.crc32(record.image_id.encode()), epoch, 1])
            record.landmarks[:, 2] = random_drop(record.hidden, rng)
        elif self.scores in ("detector", "learned"):
            record.landmarks = self.rescorer(record.image, record.landmarks)
        return record
