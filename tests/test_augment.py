"""The strong-baseline options: augmentations that move landmarks with the pixels, random erasing, AdamW and
the cosine / one-cycle schedules with warm-up."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from helpers import tiny_config
from oadn.config import ConfigError, build_config
from oadn.engine.augment import BatchAugment, make_augment
from oadn.engine.optim import make_optimizer, make_schedule


def spots(batch: int, size: int, points: torch.Tensor) -> torch.Tensor:
    """Black images with one bright 3 x 3 spot centred on each face's single point."""
    images = torch.zeros(batch, 3, size, size)
    for b, (x, y) in enumerate(points.round().long().tolist()):
        images[b, :, y - 1:y + 2, x - 1:x + 2] = 1.0
    return images


@pytest.mark.parametrize("shift, area", [(0.2, 1.0), (0.0, 0.5), (0.15, 0.6)])
def test_shift_and_resized_crop_move_the_landmarks_with_the_pixels(shift, area):
    size, batch = 64, 16
    points = torch.tensor([[20.0 + b, 30.0 + (b % 5)] for b in range(batch)])
    landmarks = torch.cat([points[:, None].expand(batch, 68, 2), torch.full((batch, 68, 1), 0.7)], dim=-1)
    augment = BatchAugment(shift, area, 0.0, seed=0, device=torch.device("cpu"))
    images, moved = augment(spots(batch, size, points), landmarks, epoch=0, step=0)
    assert torch.equal(moved[..., 2], landmarks[..., 2])  # scores untouched
    assert not torch.allclose(moved[:, 0, :2], points)  # the faces did move
    for b in range(batch):
        x, y = moved[b, 0, :2]
        if not (2 <= x < size - 2 and 2 <= y < size - 2):
            continue  # moved off the image
        heat = images[b].sum(0)
        ys, xs = torch.nonzero(heat == heat.max(), as_tuple=True)
        peak = torch.stack([xs.float().mean(), ys.float().mean()])
        assert torch.allclose(peak, moved[b, 0, :2], atol=1.0), (b, peak, moved[b, 0, :2])


def test_augmentation_draws_are_a_function_of_seed_epoch_and_step():
    images, landmarks = torch.randn(4, 3, 32, 32), torch.rand(4, 68, 3) * 30
    augment = BatchAugment(0.1, 0.7, 0.5, seed=3, device=torch.device("cpu"))
    first = augment(images, landmarks, epoch=2, step=5)
    torch.manual_seed(123)  # the global state neither feeds nor is changed by the draws
    before = torch.random.get_rng_state()
    again = augment(images, landmarks, epoch=2, step=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    other = augment(images, landmarks, epoch=2, step=6)
    assert not torch.equal(first[0], other[0])


def test_random_erasing_paints_a_rectangle_and_leaves_landmarks():
    images, landmarks = torch.zeros(8, 3, 32, 32), torch.rand(8, 68, 3) * 30
    erased, same = BatchAugment(0.0, 1.0, 1.0, seed=0, device=torch.device("cpu"))(images, landmarks, 0, 0)
    assert torch.equal(same, landmarks)
    changed = (erased != 0).any(dim=1)  # B x H x W
    assert changed.flatten(1).any(dim=1).all()  # probability 1: every face has its rectangle
    assert (changed.flatten(1).float().mean(dim=1) < 0.5).all()  # timm's default area: at most a third


def test_the_paper_recipe_has_no_augmentation_and_bad_values_are_named():
    assert make_augment(tiny_config(), torch.device("cpu")) is None
    with pytest.raises(ConfigError, match="data.random_shift"):
        build_config(overrides=["data.random_shift=0.7"])
    with pytest.raises(ConfigError, match="train.warmup_epochs"):
        build_config(overrides=["train.warmup_epochs=2"])  # the step schedule has no warm-up
    with pytest.raises(ConfigError, match="train.optimizer"):
        build_config(overrides=["train.optimizer=lamb"])


def _lrs(*overrides: str) -> list[float]:
    config = build_config(overrides=["train.epochs=10", "train.lr=0.1", *overrides])
    model = torch.nn.Linear(2, 2)
    optimizer = make_optimizer(model, config.train)
    schedule = make_schedule(optimizer, config.train)
    lrs = []
    for _ in range(config.train.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


def test_schedules_per_epoch():
    assert _lrs("train.lr_milestones=[4, 8]") == pytest.approx([0.1] * 4 + [0.01] * 4 + [0.001] * 2)
    cosine = _lrs("train.schedule=cosine", "train.warmup_epochs=2")
    assert cosine[0] == pytest.approx(0.001) and cosine[2] == pytest.approx(0.1)  # warm-up from lr / 100
    assert all(a > b for a, b in zip(cosine[2:], cosine[3:]))  # then decaying
    onecycle = _lrs("train.schedule=onecycle", "train.warmup_epochs=3")
    peak = max(range(10), key=onecycle.__getitem__)
    assert onecycle[0] == pytest.approx(0.1 / 25) and peak == 3 and onecycle[peak] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(onecycle[peak:], onecycle[peak + 1:])) and onecycle[-1] < 0.1 / 10


def test_adamw_comes_from_timm_without_decay_on_biases():
    config = build_config(overrides=["train.optimizer=adamw", "train.lr=0.001", "train.weight_decay=0.05"])
    optimizer = make_optimizer(torch.nn.Linear(4, 2), config.train)
    assert type(optimizer).__name__ == "AdamW"
    assert sorted(group["weight_decay"] for group in optimizer.param_groups) == [0.0, 0.05]


def test_a_strong_baseline_recipe_trains(tmp_path):
    from oadn.engine.train import train_run

    config = tiny_config("model.name=baseline", "model.backbone=cnn-tiny", "train.epochs=2", "train.schedule=cosine",
                         "train.warmup_epochs=1", "train.optimizer=adamw", "train.lr=0.003", "data.random_shift=0.1",
                         "data.random_crop_area=0.8", "data.random_erasing=0.5", "train.label_smoothing=0.1")
    metrics = train_run(config, tmp_path / "run", progress=False)
    assert metrics["splits"]["test_clean"]["prediction"]["count"] == 42
    history = pd.read_json(tmp_path / "run" / "history.jsonl", lines=True)
    assert history["lr"].iloc[0] == pytest.approx(0.003 / 100) and history["lr"].iloc[1] == pytest.approx(0.003)
