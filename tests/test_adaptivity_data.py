"""The data side of the occlusion-adaptivity controls: score modes, misleading swaps, occluders drawn anew each
epoch, the donor-class rate, and the interest points each score mode leaves kept."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from oadn.config import ConfigError, ModelConfig, build_config
from oadn.data.faces import FaceSource
from oadn.data.geometry import interest_point_sources
from oadn.data.occluders.swap import SWAP_REGIONS, region_boxes
from oadn.data.occlusion import OccludedSource
from oadn.data.registry import get_dataset
from oadn.data.score_modes.builtin import DROP_TRIES, SOURCE_LANDMARKS, matched_random_drop
from oadn.engine.loader import FaceDataset
from oadn.engine.predict import metrics_by_branch, predict
from oadn.models.registry import create_model

SIZES = {"train_size": 28, "test_size": 28, "seed": 1}


def occluded(split: str = "test_occluded", **options):
    adapter = get_dataset("occluded", base="synthetic", **{"kind": "none", **options, **SIZES})
    return adapter.open_split(split, root=None, image_size=64)


def dropped_interest_points(landmarks: np.ndarray) -> np.ndarray:
    """Per face, the interest points a 0/1 score leaves dropped (a point is dropped when any source scores 0)."""
    return (landmarks[..., 2] == 0).astype(int) @ interest_point_sources().T.astype(int) > 0


def test_random_drop_drops_as_many_interest_points_as_the_oracle_elsewhere_and_reproducibly():
    everyone = np.arange(20)
    truth = occluded(scores="oracle").read(everyone).landmarks
    random = occluded(scores="random-drop").read(everyone).landmarks
    assert set(np.unique(random[..., 2])) <= {0.0, 1.0}
    oracle_points, random_points = dropped_interest_points(truth), dropped_interest_points(random)
    assert oracle_points.sum() > 0  # the synthetic occluders hide some points
    np.testing.assert_array_equal(random_points.sum(axis=1), oracle_points.sum(axis=1))  # the same count of 24
    assert (random_points != oracle_points).any()  # not the same points
    np.testing.assert_array_equal(random, occluded(scores="random-drop").read(everyone).landmarks)
    other = occluded(scores="random-drop", occluder_seed=5).read(everyone).landmarks
    assert (other[..., 2] != random[..., 2]).any()


def test_matched_random_drop_reaches_every_count_the_oracle_drops():
    rng = np.random.default_rng(0)
    hidden = rng.random((500, 68)) < rng.random((500, 1))  # every share of hidden points
    scores = matched_random_drop(hidden, rng.random((500, len(SOURCE_LANDMARKS), DROP_TRIES)))
    truth = np.concatenate([np.zeros((500, 68, 2)), (~hidden)[..., None]], axis=-1)
    drawn = np.concatenate([np.zeros((500, 68, 2)), scores[..., None]], axis=-1)
    np.testing.assert_array_equal(dropped_interest_points(drawn).sum(1), dropped_interest_points(truth).sum(1))


class _MissedFirst(FaceSource):
    """A source whose first face the detector missed (all landmarks zero)."""

    def __init__(self, source):
        self.source, self.classes = source, source.classes

    def __len__(self):
        return len(self.source)

    labels = property(lambda self: self.source.labels)
    image_ids = property(lambda self: self.source.image_ids)
    fingerprint = property(lambda self: self.source.fingerprint + "|missed-first")

    def read(self, indices, epoch=0):
        batch = self.source.read(indices, epoch)
        landmarks = batch.landmarks.copy()
        landmarks[batch.indices == 0] = 0.0
        return dataclasses.replace(batch, landmarks=landmarks)


def test_ones_keeps_every_point_and_a_missed_face_stays_missed_under_every_mode():
    ones = occluded(scores="ones")
    assert (ones.read(np.arange(5)).landmarks[..., 2] == 1).all()
    plain = get_dataset("synthetic", **SIZES).open_split("test_clean", root=None, image_size=64)
    for mode in ("ones", "oracle", "random-drop"):
        source = OccludedSource(_MissedFirst(plain), kinds=("mouth",), area=0.3, probability=1.0, seed=0, scores=mode)
        batch = source.read(np.arange(3))
        assert (batch.landmarks[0] == 0).all() and not batch.hidden[0].any(), mode
        np.testing.assert_array_equal(batch.images[0], plain.read(np.array([0])).images[0])  # and no occluder


@pytest.mark.parametrize("kind", sorted(SWAP_REGIONS))
def test_a_swap_blends_in_another_classs_region_and_changes_nothing_outside_its_box(kind):
    plain = get_dataset("synthetic", **SIZES).open_split("test_clean", root=None, image_size=64).read(np.arange(6))
    swapped = occluded("test_clean", kind=kind, probability=1.0, scores="oracle").read(np.arange(6))
    boxes, usable = region_boxes(plain.landmarks, kind, 64)
    assert usable.all() and (swapped.donors != swapped.labels).all() and (swapped.donors >= 0).all()
    for i in range(6):
        x0, y0, x1, y1 = boxes[i]
        outside = np.ones((64, 64), dtype=bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(swapped.images[i][outside], plain.images[i][outside])
        assert (swapped.images[i][~outside] != plain.images[i][~outside]).any()
        region = SWAP_REGIONS[kind]
        assert (swapped.landmarks[i, region, 2] == 0).mean() > 0.8  # the oracle knows the region is covered
        assert (swapped.landmarks[i, np.setdiff1d(np.arange(68), region), 2] == 1).mean() > 0.9


def test_swaps_make_test_sets_only():
    config = build_config(base={"data": {"name": "occluded", "options": {"base": "synthetic", "kind": "swap-eyes"}},
                                "model": {"backbone": "cnn-tiny"}})
    from oadn.engine.preflight import open_adapter

    with pytest.raises(ConfigError, match="test sets only"):
        open_adapter(config)


def test_training_occluders_are_drawn_anew_each_epoch_on_the_same_face():
    train = get_dataset("synthetic", **{**SIZES, "train_occlusion": 1.0}).open_split("train", image_size=64)
    everyone = np.arange(8)
    first, again, later = train.read(everyone, 0), train.read(everyone, 0), train.read(everyone, 3)
    np.testing.assert_array_equal(first.images, again.images)  # a pure function of (seed, index, epoch)
    np.testing.assert_array_equal(first.landmarks[..., :2], later.landmarks[..., :2])  # the same faces
    assert all((first.images[i] != later.images[i]).any() for i in range(8))
    np.testing.assert_array_equal(train[2].image, first.images[2])  # tests read epoch 0


def test_the_loader_hands_the_epoch_to_the_source_and_pasted_occluders_follow_it():
    source = occluded("train", kind="mouth", area="any", probability=1.0, scores="oracle")
    dataset = FaceDataset(source, hflip=False, seed=0)
    epoch0, epoch1 = dataset[(3, 0)], dataset[(3, 1)]
    assert not (epoch0["image"] == epoch1["image"]).all()
    assert (dataset[(3, 1)]["image"] == epoch1["image"]).all()
    assert (dataset[3]["image"] == epoch0["image"]).all()  # evaluation reads epoch 0


def test_the_donor_class_rate_counts_swapped_faces_predicted_as_the_donors_class():
    frame = pd.DataFrame({"label": [0, 1, 2, 3], "donor": [1, 2, -1, 0], "pred_prediction": [1, 1, 2, 0],
                          "pred_lab": [0, 1, 2, 3]})
    metrics = metrics_by_branch(frame, ("a", "b", "c", "d"))
    assert metrics["prediction"]["donor_rate"] == pytest.approx(2 / 3)
    assert metrics["lab"]["donor_rate"] == 0.0 and metrics["lab"]["swapped_faces"] == 3
    assert "donor_rate" not in metrics_by_branch(frame.drop(columns="donor"), ("a", "b", "c", "d"))["prediction"]


def test_the_prediction_table_counts_the_interest_points_each_score_mode_keeps():
    torch.manual_seed(0)
    oadn = create_model(ModelConfig(name="oadn", backbone="cnn-tiny"), 7, 64)
    kept = {}
    for mode in ("ones", "oracle", "random-drop"):
        frame, _ = predict(oadn, occluded(scores=mode), device=torch.device("cpu"), batch_size=8, progress=False)
        kept[mode] = frame["kept_points"].to_numpy()
    assert (kept["ones"] == 24).all()
    assert (kept["oracle"] < 24).any() and (kept["oracle"] <= 24).all()
    np.testing.assert_array_equal(kept["random-drop"], kept["oracle"])  # as many of the 24, elsewhere
    baseline = create_model(ModelConfig(name="baseline", backbone="cnn-tiny"), 7, 64)
    frame, _ = predict(baseline, occluded(scores="oracle"), device=torch.device("cpu"), batch_size=8, progress=False)
    assert "kept_points" not in frame  # a method that drops nothing records nothing
