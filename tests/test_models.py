"""The heads are the paper's: separate region classifiers, attention that ignores dropped points, fused scores."""

from __future__ import annotations

import pytest
import torch

from oadn.config import ModelConfig
from oadn.models import create_model, list_models
from oadn.models.backbones import create_backbone
from oadn.models.oadn import OADNOptions, region_masks


def tiny_oadn(**overrides) -> torch.nn.Module:
    config = ModelConfig(name="oadn", backbone="resnet-tiny", options=OADNOptions(**overrides))
    return create_model(config, num_classes=7, image_size=64).eval()


def test_registry_lists_methods():
    assert {"oadn", "baseline"} <= set(list_models())
    with pytest.raises(KeyError, match="unknown model"):
        create_model(ModelConfig(name="nope"), 7, 64)


def test_resnet50_keeps_stride_16_without_dilation():
    backbone = create_backbone("resnet50")
    assert backbone.channels == 2048 and backbone.stride == 16
    for module in backbone.module.modules():
        if isinstance(module, torch.nn.Conv2d):
            assert module.dilation == (1, 1)
    with torch.no_grad():
        features = backbone.module.eval()(torch.zeros(1, 3, 224, 224))
    assert features.shape == (1, 2048, 14, 14)


@pytest.mark.parametrize("name", ["resnet-tiny", "cnn-tiny", "resnet18"])
def test_small_backbones_report_their_true_stride(name):
    backbone = create_backbone(name)
    with torch.no_grad():
        features = backbone.module.eval()(torch.zeros(1, 3, 64, 64))
    assert features.shape == (1, backbone.channels, 64 // backbone.stride, 64 // backbone.stride)


@pytest.mark.parametrize("regions", [1, 4, 9, 16])
def test_region_classifiers_have_distinct_parameters(regions):
    model = tiny_oadn(regions=regions)
    assert len(model.region_heads) == regions
    pointers = {p.data_ptr() for head in model.region_heads for p in head.parameters()}
    assert len(pointers) == regions * len(list(model.region_heads[0].parameters()))
    first = [p.detach().clone() for p in model.region_heads[0].parameters()]
    with torch.no_grad():
        for p in model.region_heads[-1].parameters():
            p.add_(1.0)
    if regions > 1:
        assert all(torch.equal(a, b) for a, b in zip(first, model.region_heads[0].parameters()))


def test_region_branch_pools_the_mean_of_each_tensor_split_block():
    model = tiny_oadn(regions=9)
    features = torch.rand(2, 5, 14, 14)  # 14 = 5 + 5 + 4: unequal blocks, still a partition
    _, pooled, _ = model.pool(features, torch.rand(2, 68, 3) * 64)
    blocks = [b.mean(dim=(2, 3)) for band in features.tensor_split(3, dim=2) for b in band.tensor_split(3, dim=3)]
    torch.testing.assert_close(pooled, torch.stack(blocks, dim=1))
    with pytest.raises(ValueError, match="square"):
        region_masks((14, 14), 5, features.device)
    with pytest.raises(ValueError, match="at least 4x4"):
        region_masks((3, 8), 16, features.device)


@pytest.mark.parametrize("size, regions", [((14, 14), 4), ((13, 11), 4), ((7, 9), 9), ((8, 8), 16), ((5, 6), 1)])
def test_region_masks_partition_the_map_in_tensor_split_blocks(size, regions):
    masks = region_masks(size, regions, torch.device("cpu"))
    assert masks.shape == (regions, *size)
    assert torch.equal(masks.sum(dim=0), torch.ones(size))  # every cell in exactly one block
    n = int(regions**0.5)
    cells = torch.arange(size[0] * size[1], dtype=torch.float32).view(size)
    blocks = [b for band in cells.tensor_split(n, dim=0) for b in band.tensor_split(n, dim=1)]
    for mask, block in zip(masks, blocks, strict=True):
        assert sorted(cells[mask.bool()].tolist()) == sorted(block.flatten().tolist())


def test_attention_pooling_equals_the_materialised_product():
    model = tiny_oadn(threshold=0.0)
    features = torch.rand(2, 128, 4, 4)
    landmarks = torch.rand(2, 68, 3) * torch.tensor([64.0, 64.0, 1.0])
    from oadn.data.geometry import attention_maps, interest_points

    points = interest_points(landmarks, 64)
    maps = attention_maps(points, points[..., 2] >= model.threshold, (4, 4), model.grid, model.sigma)
    weighted = (features[:, None] * maps[:, :, None]).sum(dim=(3, 4)) / maps.sum(dim=(2, 3))[..., None]
    expected = weighted.amax(dim=1)
    torch.testing.assert_close(model.attention_features(features, landmarks)[0], expected)


def test_lab_ignores_features_where_every_kept_map_is_zero():
    """Points dropped by T contribute nothing: changing F away from all kept points leaves LAB unchanged."""
    model = tiny_oadn(threshold=0.6, sigma=0.3)
    landmarks = torch.zeros(1, 68, 3)
    landmarks[..., 0] = 4.0  # every point in the top-left feature cell (cell 0,0 of 4x4 at 64 px)
    landmarks[..., 1] = 4.0
    landmarks[..., 2] = 1.0
    features = torch.rand(1, 128, 4, 4)
    with torch.no_grad():
        base = model.attention_head(model.attention_features(features, landmarks)[0])
        perturbed = features.clone()
        perturbed[..., 2:, 2:] += 50.0  # far from the kept points (weights there are below 1e-30)
        same = model.attention_head(model.attention_features(perturbed, landmarks)[0])
        torch.testing.assert_close(base, same)
        near = features.clone()
        near[..., 0, 0] += 50.0
        moved = model.attention_head(model.attention_features(near, landmarks)[0])
    assert not torch.allclose(base, moved)
    # with every point below T, nothing of F reaches the attention branch at all
    landmarks[..., 2] = 0.1
    with torch.no_grad():
        a = model.attention_features(features, landmarks)[0]
        b = model.attention_features(features * 7 + 3, landmarks)[0]
    assert torch.count_nonzero(a) == 0 and torch.equal(a, b)


def test_prediction_averages_the_branches_softmax_scores():
    model = tiny_oadn(lam=0.5)
    outputs = {"lab": torch.randn(3, 7), "frb": torch.randn(3, 4, 7), "lab_valid": torch.ones(3, dtype=torch.bool)}
    scores = model.branch_scores(outputs)
    lab = outputs["lab"].softmax(-1)
    frb = outputs["frb"].softmax(-1).mean(1)
    torch.testing.assert_close(scores["lab"], lab)
    torch.testing.assert_close(scores["frb"], frb)
    torch.testing.assert_close(scores["prediction"], (lab + frb) / 2)
    torch.testing.assert_close(scores["prediction"].sum(-1), torch.ones(3))


def test_loss_weights_the_branches_by_lambda_and_sums_the_regions():
    model = tiny_oadn(lam=0.25, regions=4)
    outputs = {"lab": torch.randn(5, 7), "frb": torch.randn(5, 4, 7), "lab_valid": torch.ones(5, dtype=torch.bool)}
    targets = torch.randint(0, 7, (5,))
    loss, parts = model.loss(outputs, targets)
    ce = torch.nn.functional.cross_entropy
    frb = sum(ce(outputs["frb"][:, k], targets) for k in range(4))
    torch.testing.assert_close(loss, 0.25 * ce(outputs["lab"], targets) + 0.75 * frb)
    torch.testing.assert_close(parts["loss_frb"], frb)


def test_soft_targets_give_each_region_its_own_soft_cross_entropy():
    model = tiny_oadn(lam=0.5, regions=4)
    outputs = {"lab": torch.randn(3, 7), "frb": torch.randn(3, 4, 7), "lab_valid": torch.ones(3, dtype=torch.bool)}
    soft = torch.softmax(torch.randn(3, 7), -1)
    loss, parts = model.loss(outputs, soft, label_smoothing=0.1)
    ce = torch.nn.functional.cross_entropy
    frb = sum(ce(outputs["frb"][:, k], soft, label_smoothing=0.1) for k in range(4))
    torch.testing.assert_close(parts["loss_frb"], frb)
    torch.testing.assert_close(loss, 0.5 * ce(outputs["lab"], soft, label_smoothing=0.1) + 0.5 * frb)


def test_forward_end_to_end_shapes():
    model = tiny_oadn(regions=4)
    images = torch.randn(2, 3, 64, 64)
    landmarks = torch.rand(2, 68, 3) * torch.tensor([64.0, 64.0, 1.0])
    outputs = model(images, landmarks)
    assert outputs["lab"].shape == (2, 7) and outputs["frb"].shape == (2, 4, 7)
    baseline = create_model(ModelConfig(name="baseline", backbone="resnet-tiny"), 7, 64)
    assert baseline(images, landmarks)["logits"].shape == (2, 7)


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    source = create_backbone("resnet-tiny")
    path = tmp_path / "weights.pt"
    torch.save(source.module.model.state_dict(), path)
    loaded = create_backbone("resnet-tiny", pretrained=path)
    for a, b in zip(source.module.parameters(), loaded.module.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match="not found"):
        create_backbone("resnet-tiny", pretrained=tmp_path / "missing.pt")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match="missing key"):
        create_backbone("resnet-tiny", pretrained=tmp_path / "wrong.pt")


def test_invalid_hyper_parameters_are_rejected():
    with pytest.raises(ValueError, match="lambda"):
        tiny_oadn(lam=1.5)
