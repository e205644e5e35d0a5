"""No number that is not finite gets into a configuration, and no NaN or infinite weights get into a checkpoint:
a run whose weights stop being finite stops before it saves them, and its advice never repeats what failed."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from helpers import TINY_OVERRIDES, tiny_config
from oadn.cli import app
from oadn.config import ConfigError, build_config
from oadn.engine.train import TrainingDiverged, train_run
from oadn.models.base import classification_loss
from oadn.models.baseline import GapClassifier
from oadn.models.registry import MODELS

runner = CliRunner()


class NaNGradientAfter(GapClassifier):
    """The GAP baseline whose gradient turns NaN from its ``clean_steps + 1``-th training step on, while the loss
    it reports stays finite: the sqrt of zero has an infinite slope, and zero times it is NaN."""

    clean_steps = 0

    def __init__(self, config, num_classes, image_size):
        super().__init__(config, num_classes, image_size)
        self.steps = 0

    def loss(self, outputs, targets, label_smoothing=0.0):
        loss = classification_loss(outputs["logits"], targets, label_smoothing)
        self.steps += 1
        if self.steps > self.clean_steps:
            loss = loss + 0 * (self.classifier.weight * 0).abs().sqrt().sum()
        return loss, {"loss": loss.detach()}


class NaNGradientFromTheSecondStep(NaNGradientAfter):
    clean_steps = 1


@pytest.fixture
def nan_gradient_methods(isolate_registries):
    isolate_registries(MODELS)
    MODELS.register("nan-gradient")(NaNGradientAfter)
    MODELS.register("nan-gradient-later")(NaNGradientFromTheSecondStep)


def train_args(*extra: str) -> list[str]:
    return ["train", "--no-progress"] + [a for o in [*TINY_OVERRIDES, *extra] for a in ("--set", o)]


ONE_STEP_AN_EPOCH = ("model.backbone=cnn-tiny", "train.batch_size=256")


@pytest.mark.parametrize("setting, named", [
    ("train.lr=.inf", "config.train.lr = inf"),
    ("train.lr=.nan", "config.train.lr = nan"),
    ("model.sigma=-.inf", "config.model.sigma = -inf"),
    ("model.margin=.inf", "config.model.margin = inf"),
    ("train.lr_milestones=[1, .inf]", "config.train.lr_milestones[1] = inf"),
])
def test_a_number_that_is_not_finite_is_refused_anywhere_in_a_config(tmp_path, setting, named):
    with pytest.raises(ConfigError, match="expected a finite number"):
        build_config(overrides=[setting])
    result = runner.invoke(app, train_args(setting) + ["--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert named in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_weights_that_stop_being_finite_are_never_saved_and_a_one_epoch_run_fails(tmp_path, nan_gradient_methods):
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="weights became NaN or infinite in epoch 1") as raised:
        train_run(tiny_config(*ONE_STEP_AN_EPOCH, "model.name=nan-gradient", "train.epochs=1"), run, progress=False)
    assert "No epoch was completed" in str(raised.value)
    assert not (run / "checkpoint.pt").exists() and not (run / "best.pt").exists()
    assert not (run / "metrics.json").exists()


def test_the_last_good_checkpoint_is_finite_and_the_advice_lowers_the_rate(tmp_path, nan_gradient_methods):
    run = tmp_path / "run"
    result = runner.invoke(app, train_args(*ONE_STEP_AN_EPOCH, "model.name=nan-gradient-later", "train.epochs=2")
                           + ["--run-dir", str(run)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "weights became NaN or infinite in epoch 2" in text and "The last good checkpoint is kept" in text
    assert "--set train.lr=0.005" in text and "train.lr=0.05 " not in text
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["state"]["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in checkpoint["model"].values() if t.is_floating_point())
    assert not (run / "metrics.json").exists()
