"""Misleading occluders: a facial region of another face, of another expression, blended over the same region.

A grey patch or a hand carries no expression, so a network can learn to ignore it. A mouth from a smiling face
over a frowning one is false evidence; discarding the region it covers is where occlusion adaptivity should pay
most. The donor's landmark box of the region (padded) is resampled onto the target's box and blended in with a
feathered elliptical alpha (:func:`oadn.data.occluders.paste.swap_regions`); the mask is where the alpha
exceeds one half. This module holds the geometry: which points make each region and where its box lies.
"""

from __future__ import annotations

import numpy as np

from oadn.data.ibug68 import BROWS, EYES, MOUTH

#: swap kind -> the iBUG-68 points whose box is swapped
SWAP_REGIONS: dict[str, np.ndarray] = {"swap-mouth": MOUTH, "swap-eyes": np.concatenate([BROWS, EYES])}
SWAP_KINDS: tuple[str, ...] = tuple(SWAP_REGIONS)
#: padding around the region's landmark box, as a share of the box's size on each side
MARGIN = 0.25


def region_boxes(landmarks: np.ndarray, kind: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """B x 4 (x0, y0, x1, y1) pixel boxes, end exclusive, of ``kind``'s region in B x 68 x (2|3) landmarks of
    ``size`` x ``size`` faces, padded by MARGIN and clipped to the image; and B bools: whether a box is usable
    (at least 2 x 2 pixels)."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, SWAP_REGIONS[kind], :2]
    low, high = xy.min(axis=1), xy.max(axis=1)
    pad = MARGIN * (high - low) + 1.0
    start = np.floor(np.maximum(low - pad, 0)).astype(np.int64)
    end = np.ceil(np.minimum(high + pad + 1, size)).astype(np.int64)
    boxes = np.concatenate([start, end], axis=1)
    usable = np.all(end - start >= 2, axis=1)
    return boxes, usable


def feathered_alpha(u: np.ndarray | float, v: np.ndarray | float):
    """Alpha at box coordinates ``u``, ``v`` in [-1, 1] (the box's edges at -1 and 1): an ellipse filling the
    box, 1 inside 60% of its radius, falling linearly to 0 at its edge. Works on numpy arrays and torch tensors."""
    radius = (u**2 + v**2) ** 0.5
    return ((1.0 - radius) / 0.4).clip(0.0, 1.0)
