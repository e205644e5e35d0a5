"""The two kinds of landmark backend, their registry, and the one function that builds a backend from its
``--landmarks`` spec (``NAME`` or ``NAME:ARGUMENT``, e.g. ``file:PATH``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oadn.common.registry import Registry

#: Face box x0, y0, x1, y1 as fractions of an aligned crop that ships without one (FERPlus, RAF-DB aligned):
#: the median of dlib's frontal-detector boxes on FERPlus training crops (docs/data.md says how it was measured).
ALIGNED_CROP_BOX = (0.067, 0.156, 0.866, 0.955)


#: how a backend's note marks landmarks fitted to a fixed box because its detector found no face
FALLBACK_MARK = "(detector found none)"


def is_fallback(note: str | None) -> bool:
    """Whether a cache row's note says the landmarks were fitted to a fixed box (no face detected)."""
    return bool(note) and str(note).endswith(FALLBACK_MARK)


class LandmarkBackendError(RuntimeError):
    """A backend cannot start (missing weights, missing optional package, unreadable landmark file)."""


class LandmarkBackend(ABC):
    """What every backend has: a name, a description with versions (recorded in the cache), whether it scores."""

    name: str
    #: e.g. "dlib 20.0.1 shape_predictor_68_face_landmarks; no scores (all 1.0)"
    description: str
    provides_scores: bool

    @classmethod
    def from_spec(cls, argument: str, *, device: str = "cpu", fan_weights: Path | None = None) -> "LandmarkBackend":
        """The backend for ``--landmarks NAME[:ARGUMENT]``; most take no argument."""
        if argument:
            raise LandmarkBackendError(f"--landmarks {cls.name} takes no argument, got {cls.name}:{argument}")
        return cls()


#: landmark backends by ``--landmarks`` name; each entry is a LandmarkBackend class
LANDMARK_BACKENDS: Registry[type[LandmarkBackend]] = Registry("landmark backend", name_attribute="name",
                                                             builtins="oadn.data.landmarks.builtin")
#: class decorator adding a backend under a ``--landmarks`` name (its ``name`` attribute is set to it)
register_landmark_backend = LANDMARK_BACKENDS.register


class ImageLandmarkBackend(LandmarkBackend):
    """Predicts 68 x 3 landmarks (x, y, score) on aligned faces, in the pixels of the aligned frame."""

    @abstractmethod
    def predict(self, images: np.ndarray, boxes: list[np.ndarray | None]) -> list[tuple[np.ndarray | None, str]]:
        """``images``: B x S x S x 3 uint8 aligned faces; ``boxes``: face box x0 y0 x1 y1 in that frame, or None
        for an aligned crop whose face fills the frame. Returns per image (68 x 3 float32 or None, note)."""


class SourceLandmarkBackend(LandmarkBackend):
    """Supplies 68 landmarks the user already has, in original image pixels; alignment is derived from them."""

    @abstractmethod
    def lookup(self, rows: pd.DataFrame) -> list[np.ndarray | None]:
        """68 x 3 float32 (x, y, score) in original pixels per index row, None where the source has none."""


def make_backend(spec: str, *, device: str = "cpu", fan_weights: Path | None = None, **_: Any) -> LandmarkBackend:
    """Build the backend named by a ``--landmarks`` spec (see ``LANDMARK_BACKENDS``: ``fan``, ``dlib``,
    ``dataset``, ``file:PATH``). Fails at once (before any image is processed) when it cannot run here."""
    name, _, argument = spec.partition(":")
    try:
        backend = LANDMARK_BACKENDS.get(name)
    except KeyError as error:
        raise LandmarkBackendError(f"{error.args[0]} (file takes a path: file:PATH)") from None
    return backend.from_spec(argument, device=device, fan_weights=fan_weights)


def canonical_spec(spec: str) -> str:
    """The spec with a file path made absolute, so the cache key does not depend on the working directory."""
    name, _, arg = spec.partition(":")
    if name != "file" or not arg:
        return spec
    path, sep, flags = arg.rpartition("?")
    return f"file:{Path(path).expanduser().resolve()}?{flags}" if sep else f"file:{Path(arg).expanduser().resolve()}"
