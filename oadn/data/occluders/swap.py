"""Misleading occluders: a facial region of another face, of another expression, blended over the same region.

A grey patch or a hand carries no expression, so a network can learn to ignore it. A mouth from a smiling face
over a frowning one is false evidence; discarding the region it covers is where occlusion adaptivity should pay
most. The donor's landmark box of the region (padded) is resized onto the target's box and blended in with a
feathered elliptical alpha; the mask is where the alpha exceeds one half.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from oadn.data.ibug68 import BROWS, EYES, MOUTH
from oadn.data.occluders.real import Occlusion

#: swap kind -> the iBUG-68 points whose box is swapped
SWAP_REGIONS: dict[str, np.ndarray] = {"swap-mouth": MOUTH, "swap-eyes": np.concatenate([BROWS, EYES])}
SWAP_KINDS: tuple[str, ...] = tuple(SWAP_REGIONS)
#: padding around the region's landmark box, as a share of the box's size on each side
MARGIN = 0.25


def region_box(landmarks: np.ndarray, kind: str, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixel box, end exclusive, of ``kind``'s region padded by MARGIN and clipped to the image;
    None where it is empty."""
    xy = landmarks[SWAP_REGIONS[kind], :2]
    low, high = xy.min(axis=0), xy.max(axis=0)
    pad = MARGIN * (high - low) + 1.0
    x0, y0 = np.floor(np.maximum(low - pad, 0)).astype(int)
    x1, y1 = np.ceil(np.minimum(high + pad + 1, [shape[1], shape[0]])).astype(int)
    return (int(x0), int(y0), int(x1), int(y1)) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def feathered_alpha(height: int, width: int) -> np.ndarray:
    """An ellipse filling the box: 1 inside 60% of its radius, falling linearly to 0 at its edge."""
    y = (np.arange(height) + 0.5) / height * 2 - 1
    x = (np.arange(width) + 0.5) / width * 2 - 1
    radius = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
    return np.clip((1.0 - radius) / 0.4, 0.0, 1.0)


def swap_region(image: np.ndarray, landmarks: np.ndarray, donor_image: np.ndarray, donor_landmarks: np.ndarray,
                kind: str) -> Occlusion:
    """``image`` with ``kind``'s region replaced by the donor's (both aligned faces with their landmarks)."""
    target = region_box(landmarks, kind, image.shape[:2])
    source = region_box(donor_landmarks, kind, donor_image.shape[:2])
    mask = np.zeros(image.shape[:2], dtype=bool)
    if target is None or source is None:
        return Occlusion(image=image, mask=mask, kind=kind)
    x0, y0, x1, y1 = target
    patch = Image.fromarray(donor_image[source[1]:source[3], source[0]:source[2]]).resize((x1 - x0, y1 - y0),
                                                                                      Image.BILINEAR)
    alpha = feathered_alpha(y1 - y0, x1 - x0)
    out = image.astype(np.float32).copy()
    region = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = alpha[..., None] * np.asarray(patch, dtype=np.float32) + (1 - alpha[..., None]) * region
    mask[y0:y1, x0:x1] = alpha > 0.5
    return Occlusion(image=np.clip(out + 0.5, 0, 255).astype(np.uint8), mask=mask, kind=kind)
