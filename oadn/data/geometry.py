"""Landmark geometry: mirroring a face's landmarks, the paper's 68 -> 24 interest points, and attention maps.

Coordinates are pixels of the aligned image, with pixel i's centre at i (so a horizontal flip maps x to W-1-x).
All functions take and return torch tensors so the interest points and attention maps are computed on the
model's device, batched, at feature resolution; nothing at image resolution is ever materialised.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def interest_point_sources() -> np.ndarray:
    """24 x 68 bools: which landmarks each interest point's score comes from (a recomputed point scores the
    minimum of its sources, so it is dropped when any of them is)."""
    sources = np.zeros((len(DIRECT_INDICES) + len(MIDPOINT_PAIRS) + len(CHEEK_CORNERS), NUM_LANDMARKS), dtype=bool)
    for point, landmark in enumerate(DIRECT_INDICES):
        sources[point, landmark] = True
    for k, pair in enumerate(MIDPOINT_PAIRS):
        sources[len(DIRECT_INDICES) + k, list(pair)] = True
    for k, corner in enumerate(CHEEK_CORNERS):
        sources[len(DIRECT_INDICES) + len(MIDPOINT_PAIRS) + k, corner] = True
    return sources


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


@dataclass(frozen=True)
class CellGrid:
    """Where a backbone's feature cells sit in the image: cell j is centred at ``stride * j + offset`` pixels
    (the centre of its receptive field). A max-pooled CNN without padding at its strided layers has
    ``offset = (stride - 1) / 2``; a ResNet, whose stride-2 convolutions are zero-padded, has ``offset = 0``."""

    stride: float
    offset: float

    def cells(self, pixels: torch.Tensor) -> torch.Tensor:
        """Image pixel coordinates in feature cells (fractional)."""
        return (pixels - self.offset) / self.stride


def face_found(landmarks: torch.Tensor) -> torch.Tensor:
    """Per face (any leading dims of ... x 68 x 3 landmarks): whether the detector found it. A face it missed is
    stored with every point at (0, 0) and score 0."""
    return landmarks.flatten(-2).abs().amax(dim=-1) > 0


def kept_points(points: torch.Tensor, threshold: float, found: torch.Tensor) -> torch.Tensor:
    """B x M bools: the paper's rule (score >= T), on a face the detector found. A missed face keeps no point at
    any T: at T = 0 its points at the image corner would otherwise be attended to."""
    return (points[..., 2] >= threshold) & found[..., None]


def attention_maps(
    points: torch.Tensor, kept: torch.Tensor, feature_size: tuple[int, int], grid: CellGrid, sigma: float
) -> torch.Tensor:
    """Gaussian attention map per interest point, rendered directly at feature resolution.

    points: B x M x 3 (x, y in image pixels, score); kept: B x M bools (:func:`kept_points`). Returns
    B x M x h x w; a map is all zeros where its point is not kept. ``sigma`` is in feature cells; a point sits
    at the fractional cell position ``grid`` gives it.
    """
    h, w = feature_size
    u = grid.cells(points[..., 0])  # B x M, in feature cells
    v = grid.cells(points[..., 1])
    cols = torch.arange(w, device=points.device, dtype=points.dtype)
    rows = torch.arange(h, device=points.device, dtype=points.dtype)
    gx = torch.exp(-((cols - u[..., None]) ** 2) / (2 * sigma**2))  # B x M x w
    gy = torch.exp(-((rows - v[..., None]) ** 2) / (2 * sigma**2))  # B x M x h
    return gy[..., :, None] * gx[..., None, :] * kept.to(points.dtype)[..., None, None]
