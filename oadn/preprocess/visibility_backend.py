"""``prepare --visibility FILE``: any image landmark backend, its scores replaced by the visibility network's.

The wrapped backend gets its own cache (spec ``<backend>+visibility:<file>``), so a plain cache is never mixed
with a re-scored one, and the cache's meta records which model scored it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oadn.data.landmarks.base import ImageLandmarkBackend, LandmarkBackendError
from oadn.data.landmarks.visibility import VisibilityScorer


class VisibilityBackend(ImageLandmarkBackend):
    """The inner backend's points, scored by a :class:`VisibilityScorer` on the aligned face."""

    provides_scores = True

    def __init__(self, inner: ImageLandmarkBackend, path: Path):
        self.inner = inner
        self.scorer = VisibilityScorer.load(path)
        self.name = inner.name
        self.description = f"{inner.description}, replaced by the visibility model {path}"

    def predict(self, images: np.ndarray, boxes: list[np.ndarray | None]) -> list[tuple[np.ndarray | None, str]]:
        found = self.inner.predict(images, boxes)
        located = [i for i, (points, _) in enumerate(found) if points is not None]
        if not located:
            return found
        # one forward pass for the faces with points, not one per face
        rescored = self.scorer.rescored(images[located], np.stack([found[i][0] for i in located]))
        out = list(found)
        for row, i in enumerate(located):
            out[i] = (rescored[row], found[i][1])
        return out


def with_visibility(backend, spec: str, visibility: Path | None):
    """(backend, cache spec) for ``prepare``: unchanged without a model file, else wrapped and re-keyed."""
    if visibility is None:
        return backend, spec
    if not isinstance(backend, ImageLandmarkBackend):
        raise LandmarkBackendError(f"--visibility needs an image landmark backend (fan, dlib), not {spec!r}")
    path = Path(visibility).expanduser().resolve()
    return VisibilityBackend(backend, path), f"{spec}+visibility:{path}"
