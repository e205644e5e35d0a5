"""The built-in score modes; importing this module registers them (the registry imports it at its first lookup).

The contrasts of the occlusion-adaptivity experiments are between these: ``oracle`` against ``ones`` / ``backend``
(dropping the covered points against dropping none) and against ``random-drop`` (dropping as many, not knowing
where the occluder is)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oadn.data.faces import FaceBatch
from oadn.data.geometry import interest_point_sources
from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.data.score_modes.base import Draws, ScoreMode, register_score_mode

#: the 24 interest points' source landmarks (24 x 68) and the landmarks that feed any of them
SOURCES = interest_point_sources()
SOURCE_LANDMARKS = np.flatnonzero(SOURCES.any(axis=0))
#: random orders ``random-drop`` tries per face before it keeps the closest count (a miss is rare: docs)
DROP_TRIES = 8


@register_score_mode("backend")
class Backend(ScoreMode):
    summary = ("the scores the landmarks came with, unchanged (dlib gives 1.0 everywhere, so nothing is dropped; "
               "synthetic faces carry detector-like scores)")

    def score(self, batch: FaceBatch, draws: Draws) -> np.ndarray:
        return np.array(batch.landmarks, copy=True)


class _Set(ScoreMode):
    """A mode that sets the scores of the faces the detector found and leaves the positions as they are."""

    def scores(self, batch: FaceBatch, found: np.ndarray, draws: Draws) -> np.ndarray:
        """found faces x 68 scores."""
        raise NotImplementedError

    def score(self, batch: FaceBatch, draws: Draws) -> np.ndarray:
        landmarks = np.array(batch.landmarks, copy=True)
        found = batch.found
        landmarks[found, :, 2] = self.scores(batch, found, draws)
        return landmarks


@register_score_mode("ones")
class Ones(_Set):
    summary = "every point scores 1.0 (nothing is dropped at any T > 0: the all-1.0 control)"

    def scores(self, batch: FaceBatch, found: np.ndarray, draws: Draws) -> np.ndarray:
        return np.ones((int(found.sum()), NUM_LANDMARKS), dtype=np.float32)


@register_score_mode("oracle")
class Oracle(_Set):
    summary = ("points truly hidden (under the pasted mask, under a synthetic face's own occluders, or off the "
               "image) score 0, every other point 1.0")

    def scores(self, batch: FaceBatch, found: np.ndarray, draws: Draws) -> np.ndarray:
        return ~batch.hidden[found]


@register_score_mode("random-drop")
class RandomDrop(_Set):
    summary = ("as many of the 24 interest points as oracle drops on that face are dropped, chosen at random "
               "(per seed and face), every other point 1.0: the control that drops as much without knowing where")

    def scores(self, batch: FaceBatch, found: np.ndarray, draws: Draws) -> np.ndarray:
        uniforms = draws.per_face("random-drop", batch.keys[found], len(SOURCE_LANDMARKS) * DROP_TRIES)
        return matched_random_drop(batch.hidden[found], uniforms.reshape(-1, len(SOURCE_LANDMARKS), DROP_TRIES))


class _Rescored(ScoreMode):
    """A mode that re-scores each occluded face from its pixels with a rescorer built once (:meth:`load`), one
    face at a time (dlib's detector takes one image)."""

    needs_pixels = True
    _rescorer = None

    def rescorer(self):
        raise NotImplementedError

    def load(self) -> None:
        if self._rescorer is None:
            self._rescorer = self.rescorer()

    def score(self, batch: FaceBatch, draws: Draws) -> np.ndarray:
        self.load()
        landmarks = np.array(batch.landmarks, copy=True)
        full = batch.full_images()
        for row in np.flatnonzero(batch.found):
            landmarks[row] = self._rescorer(full[row], landmarks[row])
        return landmarks


@register_score_mode("detector")
class Detector(_Rescored):
    summary = "dlib re-run on the occluded face (new positions; dlib has no scores, so all 1.0)"

    def rescorer(self):
        from oadn.data.landmarks.rescoring import DetectorRescorer

        return DetectorRescorer()


@register_score_mode("learned")
class Learned(_Rescored):
    summary = "a visibility model (visibility=FILE from `oadn-bench fit-visibility`) scores every point"

    def __init__(self, visibility: str | None = None):
        if not visibility:
            raise ValueError("occluded: scores=learned needs visibility=FILE (from oadn-bench fit-visibility)")
        super().__init__(visibility)

    def rescorer(self):
        from oadn.data.landmarks.visibility import VisibilityScorer

        return VisibilityScorer.load(Path(self.visibility))

    def score(self, batch: FaceBatch, draws: Draws) -> np.ndarray:
        """Every found face of the batch in one pass of the visibility model."""
        self.load()
        landmarks = np.array(batch.landmarks, copy=True)
        rows = batch.found
        if rows.any():
            landmarks[rows] = self._rescorer.rescored(batch.full_images()[rows], landmarks[rows])
        return landmarks


def matched_random_drop(hidden: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``random-drop`` scores (B x 68, 0 or 1) for B found faces with the oracle truth ``hidden`` (B x 68):
    each face drops as many of the 24 interest points as the oracle does, at random.

    Source landmarks are zeroed in a random order (``draws``: B x len(SOURCE_LANDMARKS) x tries uniforms),
    skipping one that would drop more points than the oracle does; a face whose order ends short of the count
    (its last sources each drop two points) takes the next try's order, and after the last try keeps the order
    that came closest."""
    target = (hidden.astype(np.int64) @ SOURCES.T.astype(np.int64) > 0).sum(axis=1)  # points the oracle drops
    best = np.ones_like(hidden, dtype=np.float32)
    short = np.full(len(hidden), np.iinfo(np.int64).max)
    for attempt in range(draws.shape[2]):
        todo = np.flatnonzero(short > 0)
        if not len(todo):
            break
        zeroed, count = _drop_in_order(SOURCE_LANDMARKS[np.argsort(draws[todo, :, attempt], axis=1)], target[todo])
        better = target[todo] - count < short[todo]
        best[todo[better]] = (~zeroed[better]).astype(np.float32)
        short[todo[better]] = target[todo][better] - count[better]
    return best


def _drop_in_order(order: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks zeroed (B x 68) taking each face's ``order`` of source landmarks while the interest points
    dropped stay within ``target``, and the count dropped."""
    zeroed = np.zeros((len(order), NUM_LANDMARKS), dtype=bool)
    dropped = np.zeros((len(order), len(SOURCES)), dtype=bool)
    rows = np.arange(len(order))
    for step in range(order.shape[1]):
        landmark = order[:, step]
        trial = dropped | SOURCES[:, landmark].T
        take = trial.sum(axis=1) <= target
        dropped = np.where(take[:, None], trial, dropped)
        zeroed[rows[take], landmark[take]] = True
    return zeroed, dropped.sum(axis=1)
