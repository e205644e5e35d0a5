"""The data side of the occlusion-adaptivity controls: score modes, misleading swaps, occluders drawn anew each
epoch, the donor-class rate, and the interest points each score mode leaves kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from oadn.config import ConfigError, ModelConfig, build_config
from oadn.data.occluders.swap import SWAP_REGIONS, region_box
from oadn.data.registry import get_dataset
from oadn.engine.loader import FaceDataset
from oadn.engine.predict import metrics_by_branch, predict
from oadn.models.registry import create_model

SIZES = {"train_size": 28, "test_size": 28, "seed": 1}


def occluded(split: str = "test_occluded", **options):
    adapter = get_dataset("occluded", base="synthetic", **{"kind": "none", **options, **SIZES})
    return adapter.open_split(split, root=None, image_size=64)


def test_random_drop_zeroes_as_many_points_as_the_oracle_elsewhere_and_reproducibly():
    oracle, drop = occluded(scores="oracle"), occluded(scores="random-drop")
    moved = 0
    for i in range(10):
        truth, random = oracle[i].landmarks[:, 2], drop[i].landmarks[:, 2]
        assert set(np.unique(random)) <= {0.0, 1.0}
        assert (random == 0).sum() == (truth == 0).sum() > 0  # the synthetic occluders hide some points
        moved += int(((random == 0) & (truth == 1)).sum())
        np.testing.assert_array_equal(random, occluded(scores="random-drop")[i].landmarks[:, 2])
    assert moved > 0
    other = occluded(scores="random-drop", occluder_seed=5)
    assert any((other[i].landmarks[:, 2] != drop[i].landmarks[:, 2]).any() for i in range(10))


def test_ones_keeps_every_point_and_a_missed_face_stays_missed_under_every_mode():
    ones = occluded(scores="ones")
    assert all((ones[i].landmarks[:, 2] == 1).all() for i in range(5))
    for mode in ("ones", "oracle", "random-drop"):
        source = occluded(scores=mode)
        missed = source.source[0]
        missed.landmarks[:] = 0.0
        source.source = _Replaced(source.source, 0, missed)
        source.memo_key = None  # its key no longer describes its faces
        assert (source[0].landmarks == 0).all(), mode


class _Replaced:
    """A source with item ``index`` replaced (a face the detector missed)."""

    def __init__(self, source, index, record):
        self.source, self.index, self.record = source, index, record
        self.classes, self.labels, self.image_ids = source.classes, source.labels, source.image_ids

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        return self.record if index == self.index else self.source[index]


@pytest.mark.parametrize("kind", sorted(SWAP_REGIONS))
def test_a_swap_blends_in_another_classs_region_and_changes_nothing_outside_its_box(kind):
    plain = get_dataset("synthetic", **SIZES).open_split("test_clean", root=None, image_size=64)
    swapped = occluded("test_clean", kind=kind, probability=1.0, scores="oracle")
    for i in range(6):
        record, original = swapped[i], plain[i]
        assert record.donor_label is not None and record.donor_label != record.label
        x0, y0, x1, y1 = region_box(original.landmarks, kind, (64, 64))
        outside = np.ones((64, 64), dtype=bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(record.image[outside], original.image[outside])
        assert (record.image[~outside] != original.image[~outside]).any()
        region = SWAP_REGIONS[kind]
        assert (record.landmarks[region, 2] == 0).mean() > 0.8  # the oracle knows the region is covered
        assert (record.landmarks[np.setdiff1d(np.arange(68), region), 2] == 1).mean() > 0.9


def test_swaps_make_test_sets_only():
    config = build_config(base={"data": {"name": "occluded", "options": {"base": "synthetic", "kind": "swap-eyes"}},
                                "model": {"backbone": "cnn-tiny"}})
    from oadn.engine.preflight import open_adapter

    with pytest.raises(ConfigError, match="test sets only"):
        open_adapter(config)


def test_training_occluders_are_drawn_anew_each_epoch_on_the_same_face():
    train = get_dataset("synthetic", **{**SIZES, "train_occlusion": 1.0}).open_split("train", image_size=64)
    changed = 0
    for i in range(8):
        first, again, later = train.epoch_record(i, 0), train.epoch_record(i, 0), train.epoch_record(i, 3)
        np.testing.assert_array_equal(first.image, again.image)  # a pure function of (seed, index, epoch)
        np.testing.assert_array_equal(first.landmarks[:, :2], later.landmarks[:, :2])  # the same face
        changed += int((first.image != later.image).any())
    assert changed == 8
    np.testing.assert_array_equal(train[2].image, train.epoch_record(2, 0).image)  # tests read epoch 0


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
    assert (kept["random-drop"] < 24).any()
    assert not np.array_equal(kept["oracle"], kept["random-drop"])  # the same 68-point count, not the same 24
    baseline = create_model(ModelConfig(name="baseline", backbone="cnn-tiny"), 7, 64)
    frame, _ = predict(baseline, occluded(scores="oracle"), device=torch.device("cpu"), batch_size=8, progress=False)
    assert "kept_points" not in frame  # a method that drops nothing records nothing
