"""Configuration: defaults are the paper's, overrides are typed, mistakes name the key or the file line."""

from __future__ import annotations

import pytest

from oadn.config import RunConfig, build_config, parse_override


def test_defaults_are_the_papers():
    config = RunConfig()
    assert (config.model.threshold, config.model.regions, config.model.backbone) == (0.6, 4, "resnet50")
    assert (config.train.lr, config.train.momentum, config.train.weight_decay) == (0.1, 0.9, 5e-4)
    assert (config.train.batch_size, config.train.epochs, config.train.lr_milestones) == (128, 60, [20, 40])


def test_files_then_overrides_in_order(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("model: {regions: 9, lam: 0.3}\ntrain: {lr: 0.05}\n")
    second = tmp_path / "b.yaml"
    second.write_text("model: {regions: 16}\n")
    config = build_config([first, second], ["train.lr_milestones=[10, 30]", "data.options={train_size: 70}"])
    assert config.model.regions == 16 and config.model.lam == 0.3 and config.train.lr == 0.05
    assert config.train.lr_milestones == [10, 30] and config.data.options == {"train_size": 70}


def test_mistakes_are_named():
    with pytest.raises(ValueError, match=r"config\.model: unknown key\(s\) K"):
        build_config(overrides=["model.K=4"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_override("train.lr")
    with pytest.raises(ValueError, match="expected a mapping"):
        build_config(overrides=["train=3"])
