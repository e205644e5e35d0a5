"""Every hint that prints a command quotes its arguments for a shell, so a path with spaces, quotes or non-ASCII
characters (which work everywhere else) pastes back as the same arguments."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

import oadn.preprocess.prepare as prepare_module
from helpers import tiny_config
from helpers_data import ConstantLandmarker
from oadn.cli import app
from oadn.common.commands import command_line
from oadn.config import ConfigError, build_config
from oadn.data.landmarks import LandmarkBackendError, make_backend
from oadn.data.prepared.source import prepare_command_line
from oadn.engine.preflight import check_run
from oadn.engine.resume import CheckpointDamaged, load_checkpoint, plan_resume
from oadn.engine.run_dir import load_metrics
from oadn.engine.train import diverged_advice, train_run

runner = CliRunner()
ODD = "my runs/l'été [2]"  # a space, a quote, non-ASCII, brackets


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("hints") / ODD / "run"
    train_run(tiny_config("model.backbone=cnn-tiny", "train.epochs=1"), run, progress=False)
    return run


def quoted(*words: object) -> str:
    text = command_line(*words)
    assert shlex.split(text) == [str(w) for w in words] and "'" in text  # it needed quoting, and pastes back
    return text


def test_resume_hints_quote_the_run_directory(odd_run, tmp_path):
    assert quoted("oadn-bench", "train", "--resume", odd_run, "--set", "train.lr=0.005") in diverged_advice(odd_run)
    damaged = tmp_path / ODD / "checkpoint.pt"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointDamaged) as raised:
        load_checkpoint(damaged)
    assert quoted("mv", damaged, f"{damaged}.damaged") in str(raised.value)
    assert quoted("oadn-bench", "train", "--resume", damaged.parent) in str(raised.value)


def test_the_damaged_metrics_and_edited_config_hints_are_quoted(odd_run):
    metrics = odd_run / "metrics.json"
    kept = metrics.read_bytes()
    metrics.write_text("{")
    with pytest.raises(ValueError) as raised:
        load_metrics(odd_run)
    metrics.write_bytes(kept)
    assert quoted("oadn-bench", "train", "--resume", odd_run) in str(raised.value)
    path = odd_run / "config.yaml"
    original = path.read_text()
    values = yaml.safe_load(original)
    values["train"]["lr"] = 0.02
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    try:
        with pytest.raises(ConfigError) as raised:
            plan_resume(odd_run)
    finally:
        path.write_text(original)
    assert quoted("oadn-bench", "train", "--resume", odd_run, "--set", "train.lr=0.02") in str(raised.value)


def test_prepare_show_landmarks_and_pickle_hints_are_quoted(tmp_path, monkeypatch):
    root = tmp_path / ODD / "faces"
    (root / "happy").mkdir(parents=True)
    for k in range(3):
        Image.fromarray(np.full((40, 40, 3), 60 * k, np.uint8)).save(root / "happy" / f"f{k}.png")
    assert prepare_command_line("folder", root, landmarks="dlib", cache_dir=tmp_path / ODD) == quoted(
        "oadn-bench", "prepare", "folder", "--root", root, "--landmarks", "dlib", "--cache-dir", tmp_path / ODD)
    monkeypatch.setattr(prepare_module, "make_backend", lambda spec, **kw: ConstantLandmarker(fallback_every=1))
    result = runner.invoke(app, ["prepare", "folder", "--root", str(root), "-o", "aligned=true", "--landmarks", "fake",
                                 "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert quoted("oadn-bench", "show-landmarks", "folder", "--root", root, "--only", "fallback") in result.output
    pickled = tmp_path / ODD / "points.pkl"
    pickled.write_bytes(b"\x80\x04N.")
    with pytest.raises(LandmarkBackendError) as raised:
        make_backend(f"file:{pickled}")
    assert quoted("--landmarks", f"file:{pickled}?trust_pickle=1") in str(raised.value)


def test_the_split_example_is_quoted(tmp_path):
    config = build_config(overrides=["data.test_splits=[nope]", "model.backbone=cnn-tiny", "data.image_size=32"])
    with pytest.raises(ConfigError) as raised:
        check_run(config, tmp_path / "run")
    assert quoted("--set", "data.test_splits=[test_clean, test_occluded]") in str(raised.value)
