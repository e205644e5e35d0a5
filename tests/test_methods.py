"""Fidelity of the compared methods (RAN, pACNN, gACNN) to their papers: separate units where the paper has them,
attention weights in (0, 1), the region biased loss by hand, flips that mirror crops and patches, shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oadn.config import build_config
from oadn.data.geometry import flip_landmarks, interest_points
from oadn.models import create_model
from oadn.models.gacnn import feature_patches
from oadn.models.ran import region_biased_loss

torch.manual_seed(0)


def model_for(name: str, backbone: str = "cnn-tiny", size: int = 64, classes: int = 7, **options):
    config = build_config(overrides=[f"model.name={name}", f"model.backbone={backbone}", f"data.image_size={size}",
                                     *(f"model.{key}={value}" for key, value in options.items())])
    return create_model(config.model, classes, size).eval()


def face_landmarks(batch: int, size: int) -> torch.Tensor:
    """Plausible 68-point faces: points spread over the middle of the image, scores 1."""
    generator = torch.Generator().manual_seed(1)
    xy = size * (0.2 + 0.6 * torch.rand(batch, 68, 2, generator=generator))
    return torch.cat([xy, torch.ones(batch, 68, 1)], dim=-1)


@pytest.mark.parametrize("name", ["ran", "pacnn", "gacnn"])
@pytest.mark.parametrize("backbone, size", [("cnn-tiny", 64), ("resnet-tiny", 32)])
def test_output_shapes_and_attention_in_unit_interval(name, backbone, size):
    model = model_for(name, backbone, size, classes=5)
    outputs = model(torch.randn(3, 3, size, size), face_landmarks(3, size))
    assert outputs["logits"].shape == (3, 5)
    attention = {"ran": ["self_attention", "relation_attention"], "pacnn": ["patch_attention"],
                 "gacnn": ["patch_attention", "global_attention"]}[name]
    for key in attention:
        weights = outputs[key]
        assert ((weights > 0) & (weights < 1)).all(), key
    if name == "ran":
        assert outputs["self_attention"].shape == (3, 4)  # the face and three fixed crops
    else:
        assert outputs["patch_attention"].shape == (3, 24)
    scores = model.branch_scores(outputs)["prediction"]
    assert torch.allclose(scores.sum(dim=1), torch.ones(3))
    loss, parts = model.loss(outputs, torch.tensor([0, 1, 4]))
    assert torch.isfinite(loss) and "loss" in parts


def test_region_biased_loss_on_a_hand_computed_case():
    mu = torch.tensor([[0.50, 0.52, 0.30, 0.40],   # best crop beats the face by exactly the margin: 0
                       [0.60, 0.50, 0.55, 0.10]])  # best crop 0.55 < face 0.60: 0.02 - (0.55 - 0.60) = 0.07
    assert region_biased_loss(mu, 0.02).item() == pytest.approx((0.0 + 0.07) / 2)
    assert region_biased_loss(mu, 0.0).item() == pytest.approx(0.05 / 2)


def test_ran_loss_adds_the_region_biased_loss_with_its_weight():
    model = model_for("ran", rb_weight=2.0, margin=0.5)
    outputs = model(torch.randn(2, 3, 64, 64), face_landmarks(2, 64))
    loss, parts = model.loss(outputs, torch.tensor([0, 1]))
    assert parts["loss_rb"] > 0
    assert loss.item() == pytest.approx((parts["loss_ce"] + 2.0 * parts["loss_rb"]).item(), rel=1e-6)


def test_ran_shares_one_backbone_and_its_attention_vectors_across_regions():
    model = model_for("ran")
    channels = model.classifier.in_features // 2
    assert model.self_attention.weight.shape == (1, channels)  # q0: one vector for every region
    assert model.relation_attention.weight.shape == (1, 2 * channels)  # q1 over [F_i; F_m]
    backbones = [m for m in model.modules() if m.__class__ is model.backbone.__class__]
    assert len(backbones) == 1


@pytest.mark.parametrize("crops, order", [("fixed", [0, 2, 1, 3]), ("landmark", [0, 2, 1, 3, 5, 4])])
def test_ran_flip_mirrors_every_crop(crops, order):
    model = model_for("ran", crops=crops)
    images = torch.randn(2, 3, 64, 64)
    landmarks = face_landmarks(2, 64)
    flipped_landmarks = torch.from_numpy(np.stack([flip_landmarks(lm.numpy(), 64) for lm in landmarks]))
    original = model.regions(images, landmarks)
    flipped = model.regions(images.flip(-1), flipped_landmarks)
    assert flipped.shape == original.shape == (2, len(order), 3, 64, 64)
    # crop i of the flipped face is the mirror image of crop order[i] of the face (top-left <-> top-right,
    # eyes and mouth corners swap)
    assert torch.allclose(flipped, original[:, order].flip(-1), atol=1e-4)
    assert model.uses_landmarks == (crops == "landmark")


def test_gated_units_have_their_own_weights():
    for name in ("pacnn", "gacnn"):
        model = model_for(name)
        assert hasattr(model, "global_gate") == (name == "gacnn")
        units = model.patch_units
        channels = units.channels
        assert units.conv[0].groups == 24 and units.conv[0].weight.shape == (24 * channels, channels, 3, 3)
        assert units.attention_conv[0].groups == 24 and units.vector.weight.shape[0] == 24
    # the gradient of one unit's output reaches that unit's slice of every weight only (nothing is shared)
    model = model_for("pacnn")
    units, channels = model.patch_units, model.patch_units.channels
    patches = torch.randn(2, 24, channels, model.patch, model.patch)
    weighted, alpha = units(patches)
    assert weighted.shape == (2, 24, 64) and alpha.shape == (2, 24)
    (weighted[:, 3].sum() + alpha[:, 3].sum()).backward()
    for name, parameter in units.named_parameters():
        grad = parameter.grad.view(24, -1) if "conv" in name else parameter.grad.flatten(1)
        touched = [i for i in range(24) if grad[i].abs().sum() > 0]
        assert touched == [3], name
    # and a unit's output depends on its own patch only
    changed = patches.clone()
    changed[:, 5] += 1.0
    again, _ = units(changed)
    differs = (again - weighted).abs().flatten(2).sum(-1).sum(0) > 0
    assert differs.nonzero().flatten().tolist() == [5]


def test_feature_patches_are_mirrored_by_a_mirrored_map_and_centres():
    features = torch.randn(2, 4, 8, 8)
    centres = torch.tensor([[[1.3, 2.0], [6.0, 6.5]], [[3.5, 3.5], [0.0, 7.0]]])
    patches = feature_patches(features, centres, 3)
    mirrored = centres.clone()
    mirrored[..., 0] = 7 - mirrored[..., 0]
    assert patches.shape == (2, 2, 4, 3, 3)
    assert torch.allclose(feature_patches(features.flip(-1), mirrored, 3), patches.flip(-1), atol=1e-5)
    # a centre on a cell with an odd patch: the middle sample is that cell's value
    exact = feature_patches(features, torch.tensor([[[4.0, 5.0]], [[4.0, 5.0]]]), 3)
    assert torch.allclose(exact[:, 0, :, 1, 1], features[:, :, 5, 4], atol=1e-5)


def test_gacnn_flip_hands_each_unit_the_mirrored_patch_of_the_mirrored_point():
    model = model_for("gacnn")
    stride, size = model.stride, 64
    cells = size // stride
    features = torch.randn(1, 128, cells, cells)
    landmarks = face_landmarks(1, size)
    # mirror about the axis where cell j maps to cell (w - 1 - j): image x -> stride * (w - 1) + 2 offset - x
    axis = stride * (cells - 1) + 2 * model.grid.offset + 1
    flipped = torch.from_numpy(flip_landmarks(landmarks[0].numpy(), axis))[None]
    original_points = interest_points(landmarks, size)[0, :, :2]
    flipped_points = interest_points(flipped, size)[0, :, :2]
    mirrored = original_points.clone()
    mirrored[:, 0] = (axis - 1) - mirrored[:, 0]
    order = [int(torch.cdist(p[None], mirrored).argmin()) for p in flipped_points]
    assert sorted(order) == list(range(24)) and order != list(range(24))  # identities swap under a flip
    assert torch.allclose(model.patches(features.flip(-1), flipped), model.patches(features, landmarks)[:, order]
                          .flip(-1), atol=1e-4)


@pytest.mark.parametrize("backbone, size", [("cnn-tiny", 64), ("resnet-tiny", 64)])
def test_gacnn_patches_are_centred_where_the_backbones_grid_puts_each_point(backbone, size):
    model = model_for("gacnn", backbone, size, patch_fraction=0.4)  # an odd patch side: it has a centre cell
    cells = size // model.stride
    assert model.patch % 2 == 1
    rows, cols = torch.meshgrid(torch.arange(cells), torch.arange(cells), indexing="ij")
    features = (10.0 * rows + cols).float()[None, None]  # linear in the cell position: bilinear reads it exactly
    landmarks = face_landmarks(1, size)
    points = interest_points(landmarks, size)[0, :, :2]
    expected = model.grid.cells(points)  # (x, y) in cells, the backbone's receptive-field centres
    centre = model.patches(features, landmarks)[0, :, 0, model.patch // 2, model.patch // 2]
    inside = ((expected >= 0) & (expected <= cells - 1)).all(dim=1)
    assert inside.sum() >= 12
    assert torch.allclose(centre[inside], 10 * expected[inside, 1] + expected[inside, 0], atol=1e-4)


def test_unknown_or_mistyped_method_options_are_named():
    with pytest.raises(ValueError, match="unknown key\\(s\\) marginn.*ran's options"):
        model_for("ran", marginn=0.1)
    with pytest.raises(ValueError, match="model.crops"):
        model_for("ran", crops="random")
    with pytest.raises(ValueError, match="model.unit_dim"):
        model_for("gacnn", unit_dim="big")


@pytest.mark.parametrize("name, options", [("ran", ["model.crops=landmark"]), ("gacnn", []), ("pacnn", [])])
def test_each_method_trains_and_is_scored_by_the_ordinary_loop(tmp_path, name, options):
    from helpers import tiny_config
    from oadn.engine.train import train_run

    config = tiny_config(f"model.name={name}", "model.backbone=cnn-tiny", "data.image_size=32", "train.epochs=1",
                         *options)
    metrics = train_run(config, tmp_path / "run", progress=False)
    scored = metrics["splits"]["test_occluded"]["prediction"]
    assert scored["count"] == 42 and 0.0 <= scored["accuracy"] <= 1.0
