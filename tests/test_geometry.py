"""The 68 -> 24 rule, the min-confidence rule, thresholding, attention peaks and landmark mirroring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oadn.data.geometry import CellGrid, attention_maps, face_found, flip_landmarks, interest_points, kept_points
from oadn.data.ibug68 import FLIP_PERMUTATION as FLIP_PERMUTATION_68


def numbered_landmarks(scores: np.ndarray | None = None) -> np.ndarray:
    """Point i at (i, 100 + i) so every interest point's source can be read back from its coordinates."""
    lm = np.zeros((68, 3), dtype=np.float32)
    lm[:, 0] = np.arange(68)
    lm[:, 1] = 100 + np.arange(68)
    lm[:, 2] = 0.9 if scores is None else scores
    return lm


def test_direct_points_follow_the_published_one_based_list():
    points = interest_points(torch.from_numpy(numbered_landmarks()), image_size=224).numpy()
    published = [19, 22, 23, 26, 39, 37, 44, 46, 28, 30, 49, 51, 53, 55, 59, 57]
    assert points.shape == (24, 3)
    np.testing.assert_array_equal(points[:16, 0], np.array(published) - 1)


def test_midpoints_and_their_min_confidence():
    scores = np.full(68, 0.9, dtype=np.float32)
    scores[37] = 0.3  # iBUG 38, the second source of the first midpoint (20, 38)
    points = interest_points(torch.from_numpy(numbered_landmarks(scores)), image_size=224).numpy()
    pairs = [(20, 38), (25, 45), (41, 42), (47, 48), (18, 59), (27, 57)]
    for row, (a, b) in zip(points[16:22], pairs):
        assert row[0] == pytest.approx((a - 1 + b - 1) / 2)
        assert row[1] == pytest.approx(100 + (a - 1 + b - 1) / 2)
    assert points[16, 2] == pytest.approx(0.3)
    assert points[17, 2] == pytest.approx(0.9)


def test_cheek_points_sit_up_and_outward_of_the_mouth_corners_scaled_with_input():
    lm = numbered_landmarks()
    for size, offset in ((224, 16.0), (112, 8.0)):
        points = interest_points(torch.from_numpy(lm), image_size=size).numpy()
        np.testing.assert_allclose(points[22, :2], lm[48, :2] + [-offset, -offset])
        np.testing.assert_allclose(points[23, :2], lm[54, :2] + [offset, -offset])


def test_interest_points_work_batched():
    batch = torch.from_numpy(np.stack([numbered_landmarks(), numbered_landmarks() + 1]))
    assert interest_points(batch, 224).shape == (2, 24, 3)


def test_threshold_zeroes_exactly_the_low_confidence_maps():
    points = torch.tensor([[[50.0, 50.0, 0.59], [50.0, 50.0, 0.6], [80.0, 20.0, 0.95]]])
    kept = kept_points(points, 0.6, torch.tensor([True]))
    maps = attention_maps(points, kept, (14, 14), CellGrid(16, 0.0), sigma=1.0)
    assert maps.shape == (1, 3, 14, 14)
    assert maps[0, 0].abs().sum() == 0
    assert maps[0, 1].max() > 0.5 and maps[0, 2].max() > 0.5


@pytest.mark.parametrize("row,col,cells,grid", [(3, 5, 14, CellGrid(16, 0.0)), (0, 13, 14, CellGrid(16, 7.5)),
                                                (6, 2, 7, CellGrid(16, 0.0))])
def test_attention_peaks_at_one_on_the_cell_centred_on_the_point(row, col, cells, grid):
    x = col * grid.stride + grid.offset
    y = row * grid.stride + grid.offset
    points = torch.tensor([[[x, y, 1.0]]])
    maps = attention_maps(points, torch.tensor([[True]]), (cells, cells), grid, sigma=1.0)
    peak = np.unravel_index(int(maps[0, 0].argmax()), (cells, cells))
    assert tuple(int(v) for v in peak) == (row, col)
    assert maps[0, 0, row, col] == pytest.approx(1.0)


def test_a_missed_face_keeps_no_point_at_any_threshold():
    """A face the detector missed is stored with every point at (0, 0), score 0: T = 0 must not keep them."""
    landmarks = torch.rand(2, 68, 3) * torch.tensor([64.0, 64.0, 1.0])
    landmarks[1] = 0.0
    points = interest_points(landmarks, 64)
    for threshold in (0.0, 0.3, 0.6):
        kept = kept_points(points, threshold, face_found(landmarks))
        assert not kept[1].any()
    assert kept_points(points, 0.0, face_found(landmarks))[0].all()  # a found face keeps every point at T = 0


def test_flip_permutation_is_an_involution_and_swaps_the_expected_pairs():
    perm = FLIP_PERMUTATION_68
    np.testing.assert_array_equal(perm[perm], np.arange(68))
    assert perm[36] == 45 and perm[39] == 42  # eye corners
    assert perm[48] == 54 and perm[0] == 16 and perm[17] == 26
    for self_mirrored in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        assert perm[self_mirrored] == self_mirrored


def test_flipping_twice_is_the_identity():
    rng = np.random.default_rng(0)
    lm = np.column_stack([rng.uniform(0, 63, (68, 2)), rng.uniform(0, 1, 68)]).astype(np.float32)
    np.testing.assert_allclose(flip_landmarks(flip_landmarks(lm, 64), 64), lm, atol=1e-5)


def test_flip_mirrors_x_and_swaps_identities():
    lm = numbered_landmarks()
    flipped = flip_landmarks(lm, width=224)
    # the new point 36 (image-left outer eye corner) is the old point 45 mirrored
    assert flipped[36, 0] == pytest.approx(223 - lm[45, 0])
    assert flipped[36, 1] == pytest.approx(lm[45, 1])
    assert flipped[30, 0] == pytest.approx(223 - lm[30, 0])


def test_interest_points_of_a_flipped_face_are_the_mirrored_interest_points():
    rng = np.random.default_rng(1)
    lm = np.column_stack([rng.uniform(0, 223, (68, 2)), rng.uniform(0, 1, 68)]).astype(np.float32)
    direct = interest_points(torch.from_numpy(lm), 224).numpy()
    mirrored = direct.copy()
    mirrored[:, 0] = 223 - mirrored[:, 0]
    of_flipped = interest_points(torch.from_numpy(flip_landmarks(lm, 224)), 224).numpy()
    key = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(key(of_flipped), key(mirrored), atol=1e-4)
