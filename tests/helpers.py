"""Tiny configurations and suite files shared by the training, CLI and suite tests (seconds on 2 CPU cores), and
the check that a command ended in one named line."""

from __future__ import annotations

from pathlib import Path

import yaml

from oadn.config import RunConfig, build_config

TINY_OVERRIDES = [
    "data.name=synthetic",
    "data.options={train_size: 140, test_size: 42, seed: 3}",
    "data.image_size=32",
    "data.test_splits=[test_clean, test_occluded]",
    "model.backbone=resnet-tiny",
    "train.epochs=2",
    "train.batch_size=16",
    "train.lr=0.05",
    "train.lr_milestones=[1]",
    "train.eval_batch_size=64",
]
#: a tiny synthetic base for suite files
TINY = {
    "data": {"name": "synthetic", "options": {"train_size": 70, "test_size": 28, "seed": 3}, "image_size": 32,
             "test_splits": ["test_clean", "test_occluded"]},
    "model": {"backbone": "resnet-tiny"},
    "train": {"epochs": 1, "batch_size": 16, "lr": 0.05, "lr_milestones": [1], "eval_batch_size": 64},
}


def tiny_config(*extra: str) -> RunConfig:
    return build_config(overrides=TINY_OVERRIDES + list(extra))


def one_named_line(result, code: int) -> str:
    """The output of a CLI ``result`` that ended with exit status ``code`` and one named error line, no traceback;
    its words joined by single spaces (rich wraps long lines)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
    return " ".join(result.output.split())


def suite_file(path: Path, *, name="tiny", experiment="exp", method="OADN", column="clean") -> Path:
    path.write_text(yaml.safe_dump({
        "name": name, "base": TINY, "methods": {method: {"model": {"name": "oadn"}}},
        "experiments": [{"id": experiment, "columns": [{"name": column, "split": "test_clean"}]}],
    }))
    return path
