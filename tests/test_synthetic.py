"""The synthetic data set: determinism, labels, geometry, occlusion scores, split separation, learnability."""

from __future__ import annotations

import numpy as np
import pytest

from oadn.data.adapters.synthetic import SyntheticDataset
from oadn.data.faces import FaceSource
from oadn.data.geometry import flip_landmarks
from oadn.data.ibug68 import FLIP_PERMUTATION as FLIP_PERMUTATION_68
from oadn.data.labels import BASIC_CLASSES
from oadn.data.registry import get_dataset, list_datasets
from oadn.data.synthetic import SyntheticFaces
from oadn.data.synthetic.shape import ACTION_UNITS, MEAN_SHAPE, NUM_LANDMARKS

EYES = slice(36, 48)
MOUTH = slice(48, 68)


def _same(a, b) -> bool:
    return np.array_equal(a.image, b.image) and np.array_equal(a.landmarks, b.landmarks) and a.label == b.label


def test_item_is_a_pure_function_of_seed_split_and_index():
    first = SyntheticFaces("train", 20, 64, seed=3, occlusion=0.5)
    again = SyntheticFaces("train", 500, 64, seed=3, occlusion=0.5)  # the split's size does not matter
    forward = [first[i] for i in range(20)]
    backward = [again[i] for i in reversed(range(20))][::-1]
    assert all(_same(a, b) for a, b in zip(forward, backward))
    assert _same(first[7], first[7])
    other_seed = SyntheticFaces("train", 20, 64, seed=4, occlusion=0.5)
    assert not any(np.array_equal(first[i].image, other_seed[i].image) for i in range(5))


def test_labels_match_items_and_are_balanced():
    source = SyntheticFaces("train", 100, 32, seed=1)
    assert isinstance(source, FaceSource)
    assert source.classes == BASIC_CLASSES
    labels = source.labels
    assert labels.dtype == np.int64 and labels.shape == (100,)
    assert [source[i].label for i in range(0, 100, 9)] == labels[::9].tolist()
    counts = np.bincount(labels, minlength=7)
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(labels[:63], SyntheticFaces("train", 63, 32, seed=1).labels)
    assert len(set(source.image_ids)) == 100


@pytest.mark.parametrize("size", [32, 64, 112, 224])
def test_image_and_landmark_format_at_any_resolution(size):
    source = SyntheticFaces("train", 8, size, seed=0, occlusion=0.5)
    spread = []
    for i in range(len(source)):
        record = source[i]
        assert record.image.shape == (size, size, 3) and record.image.dtype == np.uint8
        assert record.landmarks.shape == (NUM_LANDMARKS, 3) and record.landmarks.dtype == np.float32
        xy, score = record.landmarks[:, :2], record.landmarks[:, 2]
        assert xy.min() >= 0 and xy.max() <= size - 1
        assert score.min() >= 0 and score.max() <= 1
        spread.append(record.image.std())
    # something was drawn: a blank canvas under the finish's light gradient and noise has a spread below 10 (a
    # face drawn dim and grey, low contrast, can too, so the median over the faces is asked for)
    assert np.median(spread) > 20


def test_mean_shape_and_expressions_follow_the_ibug_mirror_mapping():
    mirrored = (MEAN_SHAPE[:NUM_LANDMARKS] * [-1, 1])[FLIP_PERMUTATION_68]
    np.testing.assert_allclose(mirrored, MEAN_SHAPE[:NUM_LANDMARKS], atol=1e-9)
    for name, field in ACTION_UNITS.items():
        mirrored = (field[:NUM_LANDMARKS] * [-1, 1])[FLIP_PERMUTATION_68]
        np.testing.assert_allclose(mirrored, field[:NUM_LANDMARKS], atol=1e-9, err_msg=name)


def test_frontal_landmarks_are_anatomically_ordered():
    source = SyntheticFaces("test_clean", 21, 112, seed=0, frontal=True)
    for i in range(len(source)):
        lm = source[i].landmarks
        for pts in (lm, flip_landmarks(lm, 112)):
            x, y = pts[:, 0], pts[:, 1]
            assert y[17:27].mean() < y[36:48].mean() < y[31:36].mean() < y[48:68].mean() < y[8]
            assert x[36:42].max() < x[42:48].min()  # right eye (image left) left of the left eye
            assert x[17:22].mean() < x[22:27].mean() and x[0] < x[8] < x[16]
            assert x[36:42].min() < x[30] < x[42:48].max()


def test_forced_sunglasses_hide_the_eyes_and_a_mask_the_mouth():
    glasses = SyntheticFaces("test_occluded", 30, 64, occlusion=1.0, occluder_kinds=("sunglasses",))
    scores = np.stack([glasses[i].landmarks[:, 2] for i in range(len(glasses))])
    assert (scores[:, EYES] < 0.5).mean() > 0.9
    assert (scores[:, MOUTH] >= 0.6).mean() > 0.9
    mask = SyntheticFaces("test_occluded", 30, 64, occlusion=1.0, occluder_kinds=("mask",))
    scores = np.stack([mask[i].landmarks[:, 2] for i in range(len(mask))])
    assert (scores[:, MOUTH] < 0.5).mean() > 0.9
    assert (scores[:, EYES] >= 0.6).mean() > 0.9


def test_clean_split_scores_high_and_occluded_split_hides_eyes_or_mouth():
    dataset = get_dataset("synthetic", test_size=70)
    clean = dataset.open_split("test_clean", root=None, image_size=64)
    scores = np.stack([clean[i].landmarks[:, 2] for i in range(len(clean))])
    assert (scores >= 0.6).mean() > 0.95
    occluded = dataset.open_split("test_occluded", root=None, image_size=64)
    hidden = []
    for i in range(len(occluded)):
        low = occluded[i].landmarks[:, 2] < 0.5
        hidden.append(max(low[EYES].mean(), low[MOUTH].mean()))
    assert np.mean(np.array(hidden) >= 0.3) > 0.9


def test_adapter_registration_and_disjoint_splits():
    assert "synthetic" in list_datasets()
    dataset = get_dataset("synthetic", train_size=30, test_size=14, seed=5)
    assert isinstance(dataset, SyntheticDataset) and not dataset.needs_root
    assert dataset.classes == BASIC_CLASSES
    assert dataset.splits == ("train", "test_clean", "test_occluded")
    splits = {s: dataset.open_split(s, root=None, image_size=32) for s in dataset.splits}
    assert [len(splits[s]) for s in dataset.splits] == [30, 14, 14]
    ids = [set(splits[s].image_ids) for s in dataset.splits]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    images = {s: [splits[s][i].image.tobytes() for i in range(14)] for s in dataset.splits}
    assert len(set(sum(images.values(), []))) == 3 * 14
    with pytest.raises(ValueError):
        dataset.open_split("validation", root=None, image_size=32)


def _normalized_geometry(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks with translation, scale and roll removed (eye line horizontal, inter-ocular distance 1)."""
    xy = landmarks[:, :2].astype(np.float64)
    right, left = xy[36:42].mean(axis=0), xy[42:48].mean(axis=0)
    axis = left - right
    dist = np.linalg.norm(axis)
    c, s = axis / dist
    rot = np.array([[c, s], [-s, c]])
    return (((xy - (right + left) / 2) @ rot.T) / dist).ravel()


def _linear_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Test accuracy of a ridge-regression classifier on standardized features (numpy only, closed form)."""
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-8
    a = np.column_stack([(train_x - mean) / std, np.ones(len(train_x))])
    targets = np.eye(7)[train_y]
    w = np.linalg.solve(a.T @ a + 1.0 * np.eye(a.shape[1]), a.T @ targets)
    scores = np.column_stack([(test_x - mean) / std, np.ones(len(test_x))]) @ w
    return float((scores.argmax(axis=1) == test_y).mean())


def test_expressions_are_geometric_and_colour_carries_no_class():
    def features(split: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = SyntheticFaces(split, size, 32, seed=0)
        records = [source[i] for i in range(size)]
        geometry = np.stack([_normalized_geometry(r.landmarks) for r in records])
        colour = np.stack([r.image.reshape(-1, 3).mean(axis=0) for r in records])
        return geometry, colour, source.labels

    train_geo, train_rgb, y_train = features("train", 700)
    test_geo, test_rgb, y_test = features("test_clean", 280)
    geometry_acc = _linear_accuracy(train_geo, y_train, test_geo, y_test)
    colour_acc = _linear_accuracy(train_rgb, y_train, test_rgb, y_test)
    assert geometry_acc > 0.7, geometry_acc
    assert colour_acc < 0.3, colour_acc
