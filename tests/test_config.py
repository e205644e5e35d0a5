"""Configuration: defaults are the paper's, overrides are typed, mistakes name the key or the file line."""

from __future__ import annotations

import pytest

from oadn.config import RunConfig, build_config, parse_override


def test_defaults_are_the_papers():
    config = RunConfig()
    assert (config.model.options.threshold, config.model.options.regions, config.model.backbone) == (0.6, 4, "resnet50")
    assert (config.train.lr, config.train.momentum, config.train.weight_decay) == (0.1, 0.9, 5e-4)
    assert (config.train.batch_size, config.train.epochs, config.train.lr_milestones) == (128, 60, [20, 40])


def test_files_then_overrides_in_order(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("model: {regions: 9, lam: 0.3}\ntrain: {lr: 0.05}\n")
    second = tmp_path / "b.yaml"
    second.write_text("model: {regions: 16}\n")
    config = build_config([first, second], ["train.lr_milestones=[10, 30]", "data.options={train_size: 70}"])
    assert config.model.options.regions == 16 and config.model.options.lam == 0.3 and config.train.lr == 0.05
    assert config.train.lr_milestones == [10, 30] and config.data.options == {"train_size": 70}


def test_mistakes_are_named():
    with pytest.raises(ValueError, match=r"config\.model: unknown key\(s\) K"):
        build_config(overrides=["model.K=4"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_override("train.lr")
    with pytest.raises(ValueError, match="expected a mapping"):
        build_config(overrides=["train=3"])


def test_roles_say_what_identity_resume_and_evaluation_may_ignore_or_change():
    from oadn.config import DURATION, LABEL, LOCATION, OPTIMISER, TEST_TIME, WEIGHTS, keys_with_role, role

    location = {"data.root", "data.split_options.cache_dir", "data.num_workers", "train.device",
                "train.eval_batch_size", "train.loggers"}
    optimiser = {"train.lr", "train.momentum", "train.weight_decay", "train.lr_milestones", "train.lr_gamma"}
    assert set(keys_with_role(LOCATION)) == location
    assert keys_with_role(LABEL) == ("name", "written_by", "config_version")
    assert set(keys_with_role(OPTIMISER)) == optimiser and keys_with_role(DURATION) == ("train.epochs",)
    assert keys_with_role(TEST_TIME) == ("model.threshold", "model.sigma")
    weights = set(keys_with_role(WEIGHTS))
    assert {"model.regions", "model.lam", "model.backbone", "train.seed", "data.split_options"} <= weights
    assert not weights & (location | optimiser | {"name", "train.epochs", "model.threshold"})
    with pytest.raises(ValueError, match="unknown role 'locaton'"):
        role("locaton")


def test_the_readers_of_the_roles_use_them():
    from oadn.engine.evaluate import test_time_model_keys
    from oadn.engine.resume import OPTIMISER_KEYS, RESUMABLE_KEYS
    from oadn.experiments.identity import NOT_IDENTITY_KEYS

    labels = {"name", "written_by", "config_version"}
    assert set(NOT_IDENTITY_KEYS) == labels | {"data.root", "data.split_options.cache_dir", "data.num_workers",
                                               "train.device", "train.eval_batch_size", "train.loggers"}
    assert set(RESUMABLE_KEYS) == set(NOT_IDENTITY_KEYS) - labels | set(OPTIMISER_KEYS) | {"train.epochs"}
    assert test_time_model_keys("oadn") == ("threshold", "sigma")
