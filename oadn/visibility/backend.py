"""``prepare --visibility FILE``: any image landmark backend, its scores replaced by the visibility network's.

The wrapped backend gets its own cache (spec ``<backend>+visibility:<file>``), so a plain cache is never mixed
with a re-scored one, and the cache's meta records which model scored it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oadn.preprocess.landmarks.base import ImageLandmarkBackend, LandmarkBackendError
from oadn.visibility.model import VisibilityScorer


class VisibilityBackend(ImageLandmarkBackend):
    """The inner backend's points, scored by a :class:`VisibilityScorer` on the aligned face."""

    provides_scores = True

    def __init__(self, inner: ImageLandmarkBackend, path: Path):
        self.inner = inner
        self.scorer = VisibilityScorer.load(path)
        self.name = inner.name
        self.description = f"{inner.description}, replaced by the visibility model {path}"

    def predict(self, images: np.ndarray, boxes: list[np.ndarray | None]) -> list[tuple[np.ndarray | None, str]]:
        out = []
        for image, (points, note) in zip(images, self.inner.predict(images, boxes)):
            out.append((None if points is None else self.scorer(image, points), note))
        return out


def with_visibility(backend, spec: str, visibility: Path | None):
    """(backend, cache spec) for ``prepare``: unchanged without a model file, else wrapped and re-keyed."""
    if visibility is None:
        return backend, spec
    if not isinstance(backend, ImageLandmarkBackend):
        raise LandmarkBackendError(f"--visibility needs an image landmark backend (fan, dlib), not {spec!r}")
    path = Path(visibility).expanduser().resolve()
    return VisibilityBackend(backend, path), f"{spec}+visibility:{path}"
