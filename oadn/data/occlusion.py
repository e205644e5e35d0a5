"""Pasted occlusion as a data transform: any face source with occluders pasted on its aligned faces and its
landmark scores re-set, as a test set or as augmentation (the ``occluded`` data set,
:mod:`oadn.data.adapters.occluded`, wraps any registered data set with it).

A face draws one of the kinds, is occluded with a probability, over a share of its face (or at a random size),
and its landmark scores are then set by a score mode (:mod:`oadn.data.score_modes`: ``backend``, ``ones``,
``oracle``, ``random-drop``, ``detector``, ``learned``, and any registered later).

A face the detector missed keeps its all-zero landmarks under every mode and gets no occluder. Besides the
painted kinds (sprites, :mod:`oadn.data.occluders.bank`), ``swap-mouth`` and ``swap-eyes`` blend in that region
of a face of ANOTHER class (:mod:`oadn.data.occluders.swap`): false evidence, for test sets only; the batch names
the donor's class. ``kind=none`` pastes nothing, so ``scores=learned`` re-scores a data set's own faces (e.g.
Occlusion-FERPlus). Occluders are a pure function of (seed, image, epoch): a test face (epoch 0) always gets the
same one, in any order or process, and a test split's occluded faces are painted once and kept on disk
(:mod:`oadn.data.occlusion_store`); a training face draws a new one each epoch, and a resumed run replays the
same draws. Every draw of a batch is made at once, and a batch is pasted at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from oadn.common.seeding import uniform_for
from oadn.data.faces import FaceBatch, FaceSource
from oadn.data.occluders.bank import SPRITES_PER_KIND, BankSpec, bank_face_size, painted_kinds, sprite_bank
from oadn.data.occluders.paste import jittered, paste_sprites, points_covered, similarity, swap_regions
from oadn.data.occluders.real import KINDS
from oadn.data.occluders.swap import SWAP_KINDS
from oadn.data.occlusion_store import OccludedStore
from oadn.data.score_modes.base import Draws, ScoreMode, make_score_mode

#: bump when what a painted face looks like changes (test splits kept on disk are keyed by it)
OCCLUDER_VERSION = 1
#: training placement of a sprite at a random size (area=None): turned by up to this many radians, scaled by
#: up to 1 +- ZOOM and moved by up to SHIFT of the face's size, so a face never sees the same occluder twice
ROTATE, ZOOM, SHIFT = 0.25, 0.15, 0.08
def parse_kinds(kind: str | Sequence[str]) -> tuple[str, ...]:
    """The ``kind`` option (one kind, a comma-separated list or a sequence) as a tuple of known kinds."""
    kinds = tuple(k.strip() for k in kind.split(",")) if isinstance(kind, str) else tuple(kind)
    known = KINDS + SWAP_KINDS + ("none",)
    unknown = [k for k in kinds if k not in known]
    if not kinds or unknown:
        raise ValueError(f"occluded: unknown occluder kind(s) {unknown or kinds}; expected some of {', '.join(known)}")
    return kinds


def stored_points(batch: FaceBatch) -> np.ndarray:
    """B x 68 x 2 landmark positions in the pixels of the stored faces (the batch's landmarks are in the frame)."""
    return (batch.landmarks[..., :2].astype(np.float64) + 0.5) * batch.stored_size / batch.frame - 0.5


class OccludedSource(FaceSource):
    """A FaceSource whose faces carry a pasted occluder (with probability ``probability``) and re-set scores.

    With a ``store_root`` (a test split), the occluded faces of epoch 0 are painted once into a folder under it
    (keyed by everything they depend on: the base's fingerprint, kinds, area, probability, seed) and read back
    from there by every score mode, process and run.
    """

    def __init__(self, source: FaceSource, *, kinds: tuple[str, ...], area: float | tuple[float, float] | None,
                 probability: float, seed: int, scores: str | ScoreMode, store_root: Path | None = None):
        self.source = source
        self.classes = source.classes
        self.kinds, self.area, self.probability, self.seed = kinds, area, probability, seed
        self.mode = make_score_mode(scores) if isinstance(scores, str) else scores
        self.scores = self.mode.name
        self._labels = np.asarray(source.labels)
        painted = painted_kinds(tuple(k for k in kinds if k not in SWAP_KINDS + ("none",)))
        self._painted = painted
        self._others = {int(c): np.flatnonzero(self._labels != c) for c in np.unique(self._labels)}
        self.store = None if store_root is None else OccludedStore(Path(store_root) / self._store_key(), source,
                                                                   self.paint)

    def __len__(self) -> int:
        return len(self.source)

    @property
    def labels(self) -> np.ndarray:
        return self.source.labels

    @property
    def image_ids(self) -> Sequence[str]:
        return self.source.image_ids

    @property
    def fingerprint(self) -> str:
        return f"{self.source.fingerprint}|occluded:{self._store_key()}|{self.scores}"

    def _store_key(self) -> str:
        text = json.dumps({"base": self.source.fingerprint, "kinds": self.kinds, "area": self.area,
                           "probability": self.probability, "seed": self.seed, "version": OCCLUDER_VERSION,
                           "sprites": SPRITES_PER_KIND}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def read(self, indices: np.ndarray, epoch: int = 0) -> FaceBatch:
        """Items ``indices`` with the occluders of ``epoch`` and scores set by the score mode."""
        if self.store is not None and epoch == 0:
            batch = self.store.read(np.asarray(indices, dtype=np.int64))
        else:
            batch = self.paint(self.source.read(indices, epoch), epoch)
        return self.score(batch, epoch)

    def paint(self, batch: FaceBatch, epoch: int = 0) -> FaceBatch:
        """The batch with its faces' occluders pasted, ``hidden`` (the truth of covered points) and ``donors``."""
        count = len(batch)
        draws = uniform_for(self.seed, epoch, "occluder", batch.keys, 8)
        found = batch.found
        kinds = np.array(self.kinds)[np.minimum((draws[:, 1] * len(self.kinds)).astype(np.int64),
                                                len(self.kinds) - 1)] if count else np.array([], dtype=str)
        chosen = found & (draws[:, 0] < self.probability) & (kinds != "none")
        images = np.array(batch.images, copy=True)
        mask = np.zeros(images.shape[:3], dtype=bool)
        points = stored_points(batch)
        donors = np.full(count, -1, dtype=np.int64)
        painted = chosen & ~np.isin(kinds, SWAP_KINDS)
        if painted.any():
            self._paste(images, mask, points, kinds, draws, painted)
        for kind in SWAP_KINDS:
            swapped = chosen & (kinds == kind)
            if swapped.any():
                self._swap(images, mask, points, batch, draws, swapped, kind, donors, epoch)
        inside = np.all((batch.landmarks[..., :2] >= 0) & (batch.landmarks[..., :2] <= batch.frame - 1), axis=2)
        hidden = points_covered(mask, points) | ~inside
        if batch.hidden is not None:
            hidden |= batch.hidden
        return replace(batch, images=images, hidden=hidden, donors=donors if (donors >= 0).any() else None)

    def _paste(self, images: np.ndarray, mask: np.ndarray, points: np.ndarray, kinds: np.ndarray,
               draws: np.ndarray, painted: np.ndarray) -> None:
        bank = sprite_bank(BankSpec(self._painted, self.area, self.seed, bank_face_size(images.shape[1])))
        picked = kinds[painted]
        every = np.array(KINDS[:-1])  # what "random" picks from
        final = np.where(picked == "random",
                         every[np.minimum((draws[painted, 2] * len(every)).astype(np.int64), len(every) - 1)], picked)
        kind_index = np.array([self._painted.index(k) for k in final], dtype=np.int64)
        ids = bank.sprite_ids(kind_index, draws[painted, 3])
        a, b = similarity(bank.template, points[painted])
        if self.area is None:  # training augmentation: placements vary too
            centre = complex(bank.canvas / 2 - 0.5, bank.canvas / 2 - 0.5)
            a, b = jittered(a, b, centre, draws[painted, 4:8], ROTATE, ZOOM, SHIFT * images.shape[1])
        images[painted], mask[painted] = paste_sprites(images[painted], points[painted], bank, ids, (a, b))

    def _swap(self, images: np.ndarray, mask: np.ndarray, points: np.ndarray, batch: FaceBatch, draws: np.ndarray,
              swapped: np.ndarray, kind: str, donors: np.ndarray, epoch: int) -> None:
        """``kind``'s region of a face of another class (drawn uniformly) blended over each ``swapped`` face."""
        rows = np.flatnonzero(swapped)
        wanted = np.full(len(rows), -1, dtype=np.int64)
        for position, row in enumerate(rows):
            others = self._others.get(int(batch.labels[row]), np.zeros(0, dtype=np.int64))
            if len(others):
                wanted[position] = others[min(int(draws[row, 2] * len(others)), len(others) - 1)]
        rows, wanted = rows[wanted >= 0], wanted[wanted >= 0]
        if not len(rows):
            return
        donor = self.source.read(np.unique(wanted), epoch)
        found = donor.found
        where = {int(index): k for k, index in enumerate(donor.indices) if found[k]}
        usable = np.array([int(w) in where for w in wanted], dtype=bool)
        rows, wanted = rows[usable], wanted[usable]
        if not len(rows):
            return
        order = np.array([where[int(w)] for w in wanted])
        donor_points = stored_points(donor)[order]
        images[rows], covered = swap_regions(images[rows], points[rows], donor.images[order], donor_points, kind)
        mask[rows] = covered
        donors[rows] = donor.labels[order]

    def score(self, batch: FaceBatch, epoch: int = 0) -> FaceBatch:
        """The batch's landmark scores set by the score mode (a face without landmarks keeps them all zero)."""
        return replace(batch, landmarks=self.mode.score(batch, Draws(self.seed, epoch)))
