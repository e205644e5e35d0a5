"""The score-mode interface and its registry (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from oadn.common.registry import Registry
from oadn.common.seeding import uniform_for
from oadn.data.faces import FaceBatch


@dataclass(frozen=True)
class Draws:
    """The uniforms a mode may draw for a batch: a pure function of (seed, epoch, stream, face), so a face gets the
    same scores in any order, batch or process (:func:`oadn.common.seeding.uniform_for`)."""

    seed: int
    epoch: int

    def per_face(self, stream: str, keys: np.ndarray, count: int) -> np.ndarray:
        """len(keys) x ``count`` uniforms in [0, 1)."""
        return uniform_for(self.seed, self.epoch, stream, keys, count)


class ScoreMode:
    """How an occluded face's landmark scores are set; a face the detector missed keeps all-zero landmarks.

    :meth:`score` works on a whole batch (the data path has no per-face Python): ``batch.hidden`` holds the truth of
    which points are covered (what ``oracle`` reads), ``batch.full_images()`` the occluded pixels (what a mode that
    ``needs_pixels`` reads)."""

    name: ClassVar[str] = ""
    #: one line for ``datasets list``, errors and the docs
    summary: ClassVar[str] = ""
    #: whether the mode reads the occluded pixels (re-runs a detector or a network on each face: slow)
    needs_pixels: ClassVar[bool] = False

    def __init__(self, visibility: str | None = None):
        """``visibility``: the visibility model file (from ``oadn-bench fit-visibility``), for a mode that reads one."""
        self.visibility = visibility

    def load(self) -> None:
        """Build what the mode reads before its first face (a detector, a model file), so a missing or unsafe one
        fails when a split is opened; nothing for a mode that reads no file."""

    def score(self, batch: FaceBatch, draws: Draws) -> np.ndarray:
        """B x 68 x 3 landmarks: the batch's, with scores (and, for a detector, positions) set by this mode."""
        raise NotImplementedError


M = TypeVar("M", bound=type[ScoreMode])
#: score modes by name; each entry is a ScoreMode class (built-ins: :mod:`oadn.data.score_modes.builtin`)
SCORE_MODES: Registry[type[ScoreMode]] = Registry("score mode", name_attribute="name",
                                                   builtins="oadn.data.score_modes.builtin")


def register_score_mode(name: str) -> Callable[[M], M]:
    """Class decorator adding a score mode under ``name``."""
    return SCORE_MODES.register(name)


def make_score_mode(name: str, **options: Any) -> ScoreMode:
    """The mode registered as ``name``; a ValueError listing every registered mode otherwise."""
    if name not in SCORE_MODES:
        raise ValueError(f"occluded: scores must be one of {', '.join(SCORE_MODES.names())}, got {name!r}")
    return SCORE_MODES.get(name)(**options)
