"""Tiny configurations shared by the training and CLI tests (seconds on 2 CPU cores)."""

from __future__ import annotations

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


def tiny_config(*extra: str) -> RunConfig:
    return build_config(overrides=TINY_OVERRIDES + list(extra))


def one_named_line(result, code: int) -> str:
    """The output of a CLI ``result`` that ended with exit status ``code`` and one named error line, no traceback;
    its words joined by single spaces (rich wraps long lines)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
    return " ".join(result.output.split())
