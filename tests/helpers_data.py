"""A landmark backend for data-side tests: fixed points (or NaN, or a detector fallback note) on every face."""

from __future__ import annotations

import numpy as np

from oadn.data.landmarks.base import FALLBACK_MARK, ImageLandmarkBackend


class ConstantLandmarker(ImageLandmarkBackend):
    """The same 68 points, score 0.9, on every face; ``nan_every``/``fallback_every``: every n-th call's first
    face gets NaN points / a fallback note, to exercise those paths."""

    name = "fake"
    description = "constant landmarker for tests"
    provides_scores = True

    def __init__(self, fallback_every: int | None = None, nan: bool = False):
        self.fallback_every = fallback_every
        self.nan = nan
        self.seen = 0

    def predict(self, images, boxes):
        out = []
        for _ in images:
            self.seen += 1
            points = np.stack([np.linspace(40, 180, 68), np.linspace(180, 40, 68), np.full(68, 0.9)], 1)
            points = points.astype(np.float32)
            note = ""
            if self.nan and self.seen == 1:
                points[5, 0] = np.nan
            if self.fallback_every and self.seen % self.fallback_every == 0:
                note = f"fake box {FALLBACK_MARK}"
            out.append((points, note))
        return out
