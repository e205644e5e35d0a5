"""Attention maps sit where each backbone's feature cells see, and the attention branch pools as configured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oadn.config import ModelConfig
from oadn.data.geometry import attention_maps
from oadn.models import create_model
from oadn.models.backbones import create_backbone
from oadn.models.oadn import OADNOptions
from oadn.models.receptive_field import cell_centroid
from oadn.models.registry import BACKBONES

#: a cell away from the middle (where the grid is measured), so the check is not the measurement repeated
CELLS, PROBE = 12, (4, 7)


@pytest.mark.parametrize("name", BACKBONES.names() + ["timm:resnet10t"])
def test_a_point_at_a_cells_receptive_field_centre_peaks_on_that_cell(name):
    backbone = create_backbone(name)
    size = backbone.stride * CELLS
    x, y = cell_centroid(backbone.module, size, PROBE)  # where cell PROBE's receptive field is centred
    grid = backbone.grid
    assert abs(grid.cells(torch.tensor(x)) - PROBE[1]) < 0.1
    assert abs(grid.cells(torch.tensor(y)) - PROBE[0]) < 0.1
    maps = attention_maps(torch.tensor([[[x, y, 1.0]]]), torch.tensor([[True]]), (CELLS, CELLS), grid, 1.0)
    assert np.unravel_index(int(maps[0, 0].argmax()), (CELLS, CELLS)) == PROBE


def test_resnets_centre_cells_at_stride_times_index_and_max_pooled_cnns_half_a_stride_later():
    assert create_backbone("resnet18").grid.offset == 0.0
    assert create_backbone("cnn-tiny").grid.offset == pytest.approx(3.5)


def _oadn(pooling: str, threshold: float = 0.6):
    options = OADNOptions(lab_pooling=pooling, threshold=threshold)
    config = ModelConfig(name="oadn", backbone="cnn-tiny", options=options)
    return create_model(config, 7, 96).eval()


def _landmarks(batch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    xy = 20 + 56 * torch.rand(batch, 68, 2, generator=generator)
    return torch.cat([xy, torch.ones(batch, 68, 1)], dim=-1)


def test_weighted_pooling_is_the_maps_weighted_average_and_mean_pooling_divides_by_every_cell():
    features = torch.ones(2, 128, 12, 12)
    landmarks = _landmarks(2)
    weighted, _, kept = _oadn("weighted").pool(features, landmarks)
    torch.testing.assert_close(weighted[kept], torch.ones_like(weighted[kept]))  # the average of ones is one
    mean, _, _ = _oadn("mean").pool(features, landmarks)
    ratio = (mean[kept] / weighted[kept])[:, 0]
    assert (ratio < 7 / 144).all()  # a sigma-1 Gaussian's mass is at most 2 pi cells: under 5% of 12 x 12
    assert (weighted[~kept] == 0).all() and (mean[~kept] == 0).all()


def test_weighted_pooling_gives_the_attention_branch_the_region_branchs_scale():
    torch.manual_seed(0)
    features = torch.rand(4, 128, 12, 12)
    landmarks = _landmarks(4)
    for pooling, low, high in (("weighted", 0.8, 1.25), ("mean", 0.0, 0.1)):
        per_point, regions, kept = _oadn(pooling).pool(features, landmarks)
        ratio = per_point[kept].norm(dim=-1).mean() / regions.norm(dim=-1).mean()
        assert low < float(ratio) < high, pooling


def test_a_missed_face_has_no_attention_features_even_at_threshold_zero():
    model = _oadn("weighted", threshold=0.0)
    landmarks = _landmarks(2)
    landmarks[1] = 0.0
    _, valid = model.attention_features(torch.rand(2, 128, 12, 12), landmarks)
    assert valid.tolist() == [True, False]
