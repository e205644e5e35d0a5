"""Landmark geometry: mirroring a face's landmarks, the paper's 68 -> 24 interest points, and attention maps.

Coordinates are pixels of the aligned image, with pixel i's centre at i (so a horizontal flip maps x to W-1-x).
All functions take and return torch tensors so the interest points and attention maps are computed on the
model's device, batched, at feature resolution; nothing at image resolution is ever materialised.
"""

from __future__ import annotations

import numpy as np
import torch

from oadn.data.ibug68 import FLIP_PERMUTATION, NUM_LANDMARKS

# The paper's interest points (PG-CNN's pts68_24 rule), written 1-based as published, converted below.
_DIRECT_1BASED = (19, 22, 23, 26, 39, 37, 44, 46, 28, 30, 49, 51, 53, 55, 59, 57)
_MIDPOINT_PAIRS_1BASED = ((20, 38), (25, 45), (41, 42), (47, 48), (18, 59), (27, 57))
_CHEEK_CORNERS_1BASED = (49, 55)  # mouth corners; cheek points sit up-and-outward of them
#: cheek offset in pixels at a 224-pixel input (one stride-16 feature cell); scaled with the input size
CHEEK_OFFSET_AT_224 = 16.0

DIRECT_INDICES = tuple(i - 1 for i in _DIRECT_1BASED)
MIDPOINT_PAIRS = tuple((a - 1, b - 1) for a, b in _MIDPOINT_PAIRS_1BASED)
CHEEK_CORNERS = tuple(i - 1 for i in _CHEEK_CORNERS_1BASED)


def interest_point_indices() -> torch.Tensor:
    """The 68 -> 24 rule as one gather: the 16 direct points, the 6 midpoints' first and second ends, the 2 mouth
    corners (30 iBUG indices). A model keeps it as a buffer so its forward copies nothing from the host."""
    groups = (DIRECT_INDICES, [a for a, _ in MIDPOINT_PAIRS], [b for _, b in MIDPOINT_PAIRS], CHEEK_CORNERS)
    return torch.tensor([i for group in groups for i in group], dtype=torch.long)


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Mirror 68 x (2 or 3) landmarks of an image ``width`` pixels wide: x -> W-1-x and swap left/right ids."""
    if landmarks.shape[0] != NUM_LANDMARKS:
        raise ValueError(f"expected {NUM_LANDMARKS} landmarks, got array of shape {landmarks.shape}")
    mirrored = landmarks.copy()
    mirrored[:, 0] = (width - 1) - mirrored[:, 0]
    return mirrored[FLIP_PERMUTATION]


def interest_points(landmarks: torch.Tensor, image_size: int, indices: torch.Tensor | None = None) -> torch.Tensor:
    """68 x 3 landmarks (x, y, score; any leading batch dims) -> 24 x 3 interest points.

    16 points are taken directly, 6 are midpoints of pairs and 2 are cheek points offset from the mouth corners.
    A recomputed point's score is the minimum of its sources' scores, so a pair with one occluded end is
    dropped by the threshold like an occluded point. ``indices``: :func:`interest_point_indices`, already on the
    landmarks' device (made here when not given).
    """
    if landmarks.shape[-2:] != (NUM_LANDMARKS, 3):
        raise ValueError(f"expected (..., 68, 3) landmarks, got shape {tuple(landmarks.shape)}")
    if indices is None:
        indices = interest_point_indices().to(landmarks.device)
    direct, first, second, corners = landmarks.index_select(-2, indices).split(
        [len(DIRECT_INDICES), len(MIDPOINT_PAIRS), len(MIDPOINT_PAIRS), len(CHEEK_CORNERS)], dim=-2
    )
    mid_xy = (first[..., :2] + second[..., :2]) / 2
    mid_score = torch.minimum(first[..., 2:], second[..., 2:])
    midpoints = torch.cat([mid_xy, mid_score], dim=-1)
    offset = CHEEK_OFFSET_AT_224 * image_size / 224.0
    # the image-left mouth corner moves left and up, the image-right one right and up
    cheeks = corners.clone()
    cheeks[..., :, 1] -= offset
    cheeks[..., 0, 0] -= offset
    cheeks[..., 1, 0] += offset
    return torch.cat([direct, midpoints, cheeks], dim=-2)


def attention_maps(
    points: torch.Tensor,
    feature_size: tuple[int, int],
    image_size: int,
    sigma: float,
    threshold: float,
) -> torch.Tensor:
    """Gaussian attention map per interest point, rendered directly at feature resolution.

    points: B x M x 3 (x, y in image pixels, score). Returns B x M x h x w; a map is all zeros where the point's
    score is below ``threshold`` (the paper's T). ``sigma`` is in feature cells. A feature cell j covers image
    pixels [j*s, (j+1)*s) with s = image_size / w, so its centre is at pixel j*s + (s-1)/2.
    """
    h, w = feature_size
    stride_x = image_size / w
    stride_y = image_size / h
    u = (points[..., 0] - (stride_x - 1) / 2) / stride_x  # B x M, in feature cells
    v = (points[..., 1] - (stride_y - 1) / 2) / stride_y
    cols = torch.arange(w, device=points.device, dtype=points.dtype)
    rows = torch.arange(h, device=points.device, dtype=points.dtype)
    gx = torch.exp(-((cols - u[..., None]) ** 2) / (2 * sigma**2))  # B x M x w
    gy = torch.exp(-((rows - v[..., None]) ** 2) / (2 * sigma**2))  # B x M x h
    keep = (points[..., 2] >= threshold).to(points.dtype)
    return gy[..., :, None] * gx[..., None, :] * keep[..., None, None]
