"""The synthetic data set's faces as a :class:`~oadn.data.faces.FaceSource` (its adapter is
:mod:`oadn.data.adapters.synthetic`).

Item ``i`` of a split is a pure function of ``(seed, split, i)``: the face is drawn from its own generator
(:func:`oadn.common.seeding.rng_for`), so items can be produced alone, in any order, in any DataLoader worker;
its occluders and detector noise from a second one of ``(seed, epoch, split, i)``, so a training face is
occluded anew each epoch (tests read epoch 0) and a resumed run replays the same draws.
Labels come from a counter-based hash instead, balanced in blocks of seven, so they are known without drawing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from oadn.common.seeding import item_keys, rng_for, splitmix64
from oadn.data.faces import FaceBatch, FaceRecord, FaceSource, stack_records
from oadn.data.labels import BASIC_CLASSES
from oadn.data.occluders.canvas import Canvas, points_well_under
from oadn.data.occluders.synthetic import OCCLUDER_KINDS, DrawnFace, draw_occluders
from oadn.data.synthetic.render import draw_face, finish
from oadn.data.synthetic.shape import expression_weights, sample_geometry

#: split name -> the code that separates its random streams (splits never share an item)
SPLIT_CODES: dict[str, int] = {"train": 0, "test_clean": 1, "test_occluded": 2}
_NUM_CLASSES = len(BASIC_CLASSES)
#: bump when the drawing of faces changes (files derived from synthetic faces are keyed by it)
DRAWING_VERSION = 2


def balanced_labels(seed: int, split_code: int, size: int) -> np.ndarray:
    """Labels for items 0..size-1: each block of seven consecutive items is a random permutation of the classes."""
    blocks = -(-size // _NUM_CLASSES)
    base = splitmix64(np.array([seed * 16 + split_code], dtype=np.uint64))
    keys = splitmix64(base ^ np.arange(blocks * _NUM_CLASSES, dtype=np.uint64))
    return np.argsort(keys.reshape(blocks, _NUM_CLASSES), axis=1).ravel()[:size].astype(np.int64)


class SyntheticFaces(FaceSource):
    """A split of procedurally drawn faces of the seven basic expressions, with scored iBUG-68 landmarks.

    occlusion: probability that a face gets occluders (0 for a clean split, 1 for an occluded one).
    targeted: place hands and boxes over an eye, the eyes or the mouth rather than anywhere on the face.
    occluder_kinds: the occluder kinds to draw from (see ``OCCLUDER_KINDS``).
    frontal: no pose variation (no roll or yaw, fixed scale, centred), for tests and figures.
    """

    classes: tuple[str, ...] = BASIC_CLASSES

    def __init__(
        self,
        split: str,
        size: int,
        image_size: int,
        seed: int = 0,
        occlusion: float = 0.0,
        targeted: bool = False,
        occluder_kinds: Sequence[str] = OCCLUDER_KINDS,
        frontal: bool = False,
    ):
        if split not in SPLIT_CODES:
            raise ValueError(f"unknown synthetic split {split!r}; expected one of {', '.join(SPLIT_CODES)}")
        unknown = set(occluder_kinds) - set(OCCLUDER_KINDS)
        if unknown or not occluder_kinds:
            raise ValueError(f"occluder kinds must be a non-empty subset of {OCCLUDER_KINDS}, got {occluder_kinds}")
        if image_size < 16 or size < 0 or seed < 0 or not 0.0 <= occlusion <= 1.0:
            raise ValueError("need image_size >= 16, size >= 0, seed >= 0 and occlusion in [0, 1]")
        self.split, self.size, self.image_size, self.seed = split, size, image_size, seed
        self.occlusion, self.targeted, self.frontal = occlusion, targeted, frontal
        self.occluder_kinds = tuple(occluder_kinds)
        self._code = SPLIT_CODES[split]
        self._labels = balanced_labels(seed, self._code, size)
        self._labels.flags.writeable = False
        self._ids = _ImageIds(split, seed, size)
        self._au_rows = expression_weights(self.classes)

    def __len__(self) -> int:
        return self.size

    def read(self, indices: np.ndarray, epoch: int = 0) -> FaceBatch:
        indices = np.asarray(indices, dtype=np.int64)
        records = [self.draw(int(i), epoch) for i in indices]
        return stack_records(records, indices, item_keys([r.image_id for r in records]), self.image_size)

    @property
    def fingerprint(self) -> str:
        return (f"synthetic:v{DRAWING_VERSION}|seed {self.seed}|{self.split}|{self.size}|{self.image_size}|"
                f"{self.occlusion}|{self.targeted}|{','.join(self.occluder_kinds)}|{self.frontal}")

    def draw(self, index: int, epoch: int) -> FaceRecord:
        """Item ``index`` with the occluders of ``epoch`` (see the module docstring)."""
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} synthetic faces")
        index = int(index) % self.size
        label = int(self._labels[index])
        rng = rng_for(self.seed, 0, "synthetic face", self._code, index)
        occluders = rng_for(self.seed, epoch, "synthetic occluders", self._code, index)
        n = self.image_size
        geom = sample_geometry(rng, self._au_rows[label], n, frontal=self.frontal)
        img, points, unit = draw_face(rng, geom, n)
        hidden = np.zeros(len(geom.landmarks), dtype=bool)
        if occluders.random() < self.occlusion:
            canvas = Canvas(img)
            draw_occluders(canvas, DrawnFace(points, unit, geom.roll), occluders, self.occluder_kinds, self.targeted)
            hidden = points_well_under(np.asarray(canvas.coverage) > 0, points[: len(hidden)], 0.03 * unit)
        image = finish(rng, img, n)
        xy = geom.landmarks
        inside = np.all((xy >= 0) & (xy <= n - 1), axis=1)
        landmarks = np.column_stack([xy, confidence(occluders, hidden, inside)]).astype(np.float32)
        return FaceRecord(image=image, landmarks=landmarks, label=label, image_id=self._ids[index], hidden=hidden)

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    @property
    def image_ids(self) -> Sequence[str]:
        return self._ids


class _ImageIds(Sequence[str]):
    """Image ids computed on access, so a million-item split does not hold a million strings."""

    def __init__(self, split: str, seed: int, size: int):
        self.split, self.seed, self.size = split, seed, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if not -self.size <= index < self.size:
            raise IndexError(index)
        return f"synthetic-s{self.seed}-{self.split}-{int(index) % self.size:07d}"


def confidence(rng: np.random.Generator, occluded: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Detector-like score per point: U(0.7, 1) when visible, U(0, 0.45) when occluded, 0.2 at most off-image,
    plus noise (uniform, +-0.05) and a 3% chance per point of a detector error either way."""
    u, noise, err = rng.random((3, len(occluded)))
    low = occluded ^ (err < 0.03)
    score = np.where(low, 0.45 * u, 0.7 + 0.3 * u) + 0.1 * (noise - 0.5)
    score[~inside] = 0.2 * u[~inside]
    return np.minimum(np.maximum(score, 0.0), 1.0).astype(np.float32)
