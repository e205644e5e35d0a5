"""The two kinds of landmark backend and the one function that builds a backend from its ``--landmarks`` spec."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BACKEND_NAMES = ("fan", "dlib", "dataset", "file")
#: Face box x0, y0, x1, y1 as fractions of an aligned crop that ships without one (FERPlus, RAF-DB aligned):
#: the median of dlib's frontal-detector boxes measured on 300 FERPlus training crops.
ALIGNED_CROP_BOX = (0.067, 0.156, 0.866, 0.955)


class LandmarkBackendError(RuntimeError):
    """A backend cannot start (missing weights, missing optional package, unreadable landmark file)."""


class ImageLandmarkBackend(ABC):
    """Predicts 68 x 3 landmarks (x, y, score) on aligned faces, in the pixels of the aligned frame."""

    name: str
    #: e.g. "dlib 20.0.1 shape_predictor_68_face_landmarks; no scores (all 1.0)"
    description: str
    provides_scores: bool

    @abstractmethod
    def predict(self, images: np.ndarray, boxes: list[np.ndarray | None]) -> list[tuple[np.ndarray | None, str]]:
        """``images``: B x S x S x 3 uint8 aligned faces; ``boxes``: face box x0 y0 x1 y1 in that frame, or None
        for an aligned crop whose face fills the frame. Returns per image (68 x 3 float32 or None, note)."""


class SourceLandmarkBackend(ABC):
    """Supplies 68 landmarks the user already has, in original image pixels; alignment is derived from them."""

    name: str
    description: str
    provides_scores: bool

    @abstractmethod
    def lookup(self, rows: pd.DataFrame) -> list[np.ndarray | None]:
        """68 x 3 float32 (x, y, score) in original pixels per index row, None where the source has none."""


def make_backend(spec: str, *, device: str = "cpu", fan_weights: Path | None = None, **_: Any):
    """Build the backend named by a ``--landmarks`` spec: ``fan``, ``dlib``, ``dataset`` or ``file:PATH``.

    Fails at once (before any image is processed) when the backend cannot run here.
    """
    name, _, arg = spec.partition(":")
    if name == "fan":
        from oadn.preprocess.landmarks.fan import FanBackend

        return FanBackend(weights=fan_weights, device=device)
    if name == "dlib":
        from oadn.preprocess.landmarks.dlib_backend import DlibBackend

        return DlibBackend()
    if name == "dataset":
        from oadn.preprocess.landmarks.dataset import DatasetLandmarks

        return DatasetLandmarks()
    if name == "file":
        if not arg:
            raise LandmarkBackendError("--landmarks file:PATH needs the path of a CSV, parquet or pickle file")
        from oadn.preprocess.landmarks.file import FileLandmarks

        return FileLandmarks(Path(arg))
    raise LandmarkBackendError(f"unknown landmark backend {spec!r}; expected one of fan, dlib, dataset, file:PATH")


def canonical_spec(spec: str) -> str:
    """The spec with a file path made absolute, so the cache key does not depend on the working directory."""
    name, _, arg = spec.partition(":")
    return f"file:{Path(arg).expanduser().resolve()}" if name == "file" and arg else spec
