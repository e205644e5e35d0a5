"""``occluded``: any registered data set with occluders pasted on its aligned faces, as test set or augmentation.

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

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from oadn.data.faces import FaceRecord, FaceSource, SubsetSource
from oadn.data.registry import DatasetAdapter, get_dataset, register_dataset
from oadn.occlusion.occluders import KINDS, image_rng, occlude, points_under

SCORE_MODES = ("backend", "oracle", "detector", "learned")


def _kinds(kind: str | Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in kind.split(",")) if isinstance(kind, str) else tuple(kind)
    unknown = [k for k in kinds if k not in KINDS + ("none",)]
    if not kinds or unknown:
        raise ValueError(f"occluded: unknown occluder kind(s) {unknown or kinds}; expected some of {', '.join(KINDS)}, none")
    return kinds


class OccludedSource:
    """A FaceSource whose faces carry a pasted occluder (with probability ``probability``) and re-set scores."""

    def __init__(self, source: FaceSource, *, kinds: tuple[str, ...], area: float | None, probability: float, seed: int,
                 scores: str, rescorer=None):
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


@register_dataset("occluded")
class OccludedDataset(DatasetAdapter):
    """Another data set's faces with pasted occluders (see the module docstring)."""

    description = ("a data set with pasted occluders; options base, kind, area, probability, occluder_seed, "
                   "train_limit, scores=backend|oracle|detector|learned, visibility=FILE, plus the base's options")

    def __init__(self, base: str = "ferplus", kind: str | Sequence[str] = "random", area: float | str | None = 0.25,
                 probability: float | str = 1.0, occluder_seed: int | str = 0, scores: str = "oracle",
                 visibility: str | None = None, train_limit: int | str | None = None, **base_options: Any):
        if base == "occluded":
            raise ValueError("occluded: base must be another data set")
        if scores not in SCORE_MODES:
            raise ValueError(f"occluded: scores must be one of {', '.join(SCORE_MODES)}, got {scores!r}")
        if scores == "learned" and not visibility:
            raise ValueError("occluded: scores=learned needs visibility=FILE (from oadn-bench fit-visibility)")
        self.base = get_dataset(base, **base_options)
        self.kinds = _kinds(kind)
        self.area = None if area in ("any", None) else float(area)
        self.probability, self.seed = float(probability), int(occluder_seed)
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"occluded: probability must be in [0, 1], got {self.probability}")
        self.scores, self.visibility = scores, visibility
        self.train_limit = None if train_limit is None else int(train_limit)
        self.needs_root = self.base.needs_root
        self.target_mode = getattr(self.base, "target_mode", "hard")

    @property
    def classes(self) -> tuple[str, ...]:
        return self.base.classes

    @property
    def splits(self) -> tuple[str, ...]:
        return self.base.splits

    @property
    def protocol(self) -> str:
        area = "a random share" if self.area is None else f"{self.area:.0%}"
        return (f"{self.base.name} with occluders {'/'.join(self.kinds)} over {area} of the face on "
                f"{self.probability:.0%} of faces, scores {self.scores}; base: {self.base.protocol}")

    def _rescorer(self):
        if self.scores == "detector":
            from oadn.occlusion.detector import DetectorRescorer

            return DetectorRescorer()
        if self.scores == "learned":
            from oadn.visibility.model import VisibilityScorer

            return VisibilityScorer.load(Path(self.visibility))
        return None

    def open_split(self, split: str, *, root: Path | None, image_size: int, **options: Any) -> OccludedSource:
        source = self.base.open_split(split, root=root, image_size=image_size, **options)
        if split == "train" and self.train_limit is not None and self.train_limit < len(source):
            keep = np.sort(np.random.default_rng(0).permutation(len(source))[: self.train_limit])
            source = SubsetSource(source, keep)
        return OccludedSource(source, kinds=self.kinds, area=self.area, probability=self.probability,
                              seed=self.seed, scores=self.scores, rescorer=self._rescorer())
