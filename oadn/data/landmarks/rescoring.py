"""Landmark scores of an occluded face from the landmark backend itself: dlib re-run on the occluded pixels.

dlib has no per-point confidence, so this mode moves points (the detector is fooled by the occluder) but keeps
every score at 1.0; it shows what a real offline detector does under occlusion, not a visibility estimate.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from oadn.data.landmarks.dlib_backend import DlibBackend

#: dlib's predictor needs more pixels than a 48-64 px training face; faces are enlarged to this size first
DETECTOR_SIZE = 192


class DetectorRescorer:
    """Callable (image, landmarks) -> dlib's 68 x 3 landmarks on ``image`` (H x W x 3 uint8), in its pixels."""

    def __init__(self) -> None:
        self.backend = DlibBackend()

    def __call__(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        size = image.shape[0]
        scale = DETECTOR_SIZE / size
        big = np.asarray(Image.fromarray(image).resize((DETECTOR_SIZE, DETECTOR_SIZE), Image.BICUBIC))
        points, _ = self.backend.predict(big[None], [None])[0]
        out = np.array(points, dtype=np.float32)
        out[:, :2] = (out[:, :2] + 0.5) / scale - 0.5
        return out
