"""OADN never averages in noise: dropped points never win the max; faces with no kept point use the FRB alone."""

from __future__ import annotations

import torch

from oadn.config import ModelConfig
from oadn.models import create_model
from oadn.models.oadn import OADNOptions


def tiny_oadn(**overrides) -> torch.nn.Module:
    config = ModelConfig(name="oadn", backbone="resnet-tiny", options=OADNOptions(**overrides))
    return create_model(config, num_classes=7, image_size=64).eval()


def _landmarks(batch: int, score: float) -> torch.Tensor:
    landmarks = torch.rand(batch, 68, 3) * torch.tensor([64.0, 64.0, 0.0])
    landmarks[..., 2] = score
    return landmarks


def test_a_dropped_point_never_wins_the_max_with_negative_features():
    model = tiny_oadn(threshold=0.6)
    features = -1.0 - torch.rand(1, 128, 4, 4)  # signed features, all negative (as timm backbones can give)
    landmarks = _landmarks(1, 0.1)
    landmarks[0, 18, 2] = 1.0  # iBUG 19 is interest point 0: the only kept one
    pooled, valid = model.attention_features(features, landmarks)
    assert valid.tolist() == [True]
    assert (pooled < 0).all(), "a dropped point's zero vector won the max"
    # equals the kept point's own attention-weighted average
    model_all = tiny_oadn(threshold=0.0)
    only = landmarks.clone()
    only[..., 2] = 0.0
    only[0, 18, 2] = 1.0
    from oadn.data.geometry import attention_maps, interest_points

    points = interest_points(only, 64)
    maps = attention_maps(points, points[..., 2] >= 0.6, (4, 4), model_all.grid, model_all.sigma)
    weighted = (features[:, None] * maps[:, :, None]).sum(dim=(3, 4)) / maps.sum(dim=(2, 3))[..., None]
    expected = weighted[:, 0]
    torch.testing.assert_close(pooled, expected)


def test_a_face_without_kept_points_is_predicted_by_the_region_branch_alone():
    torch.manual_seed(0)
    model = tiny_oadn(threshold=0.6, lam=0.5)
    images = torch.randn(3, 3, 64, 64)
    landmarks = _landmarks(3, 1.0)
    landmarks[1, :, 2] = 0.2  # face 1 keeps no point
    with torch.no_grad():
        outputs = model(images, landmarks)
    assert outputs["lab_valid"].tolist() == [True, False, True]
    scores = model.branch_scores(outputs)
    torch.testing.assert_close(scores["prediction"][1], scores["frb"][1])
    torch.testing.assert_close(scores["prediction"][0], (scores["lab"][0] + scores["frb"][0]) / 2)


def test_faces_without_kept_points_are_left_out_of_the_attention_loss():
    model = tiny_oadn(lam=0.5, regions=4)
    targets = torch.tensor([0, 3, 5])
    outputs = {"lab": torch.randn(3, 7, requires_grad=True), "frb": torch.randn(3, 4, 7),
               "lab_valid": torch.tensor([True, False, True])}
    loss, parts = model.loss(outputs, targets)
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(parts["loss_lab"], ce(outputs["lab"][[0, 2]], targets[[0, 2]]))
    loss.backward()
    assert torch.count_nonzero(outputs["lab"].grad[1]) == 0 and torch.count_nonzero(outputs["lab"].grad[0]) > 0
    # a batch where no face keeps a point gives a zero attention loss, not NaN
    outputs["lab_valid"] = torch.zeros(3, dtype=torch.bool)
    _, parts = model.loss(outputs, targets)
    assert parts["loss_lab"].item() == 0.0


def test_a_large_backbone_from_scratch_is_warned_about(tmp_path):
    import warnings

    import pytest

    from oadn.models.advice import warn_large_backbone_from_scratch

    with pytest.warns(UserWarning, match="from scratch"):
        warn_large_backbone_from_scratch(ModelConfig(backbone="resnet50"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_large_backbone_from_scratch(ModelConfig(backbone="resnet50", pretrained=str(tmp_path / "w.pt")))
        warn_large_backbone_from_scratch(ModelConfig(backbone="cnn-tiny"))
