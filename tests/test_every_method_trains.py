"""Every registered method, through the one interface the loop uses: built from a validated configuration, one
training step on a batch moves its weights with a finite loss, and its scores are class probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oadn.config import build_config
from oadn.data.registry import get_dataset
from oadn.models import create_model, list_models


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eight synthetic faces at 32 px with their landmarks and labels, as the loader hands them over."""
    faces = get_dataset("synthetic", train_size=8, test_size=7, seed=1).open_split("train", image_size=32)
    read = faces.read(np.arange(8))
    images = torch.from_numpy(read.images).permute(0, 3, 1, 2).float() / 255
    return images, torch.from_numpy(read.landmarks).float(), torch.from_numpy(np.asarray(read.labels))


@pytest.mark.parametrize("method", list_models())
def test_every_method_trains_one_step(method, batch):
    torch.manual_seed(0)
    config = build_config(overrides=[f"model.name={method}", "model.backbone=cnn-tiny", "data.image_size=32"])
    model = create_model(config.model, num_classes=7, image_size=32).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    images, landmarks, labels = batch
    loss, parts = model.loss(model(images, landmarks), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and "loss" in parts
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    scores = model.branch_scores(model.eval()(images, landmarks))["prediction"]
    assert scores.shape == (8, 7) and torch.allclose(scores.sum(dim=1), torch.ones(8), atol=1e-5)
