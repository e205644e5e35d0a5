"""Bad input and faults, as an adversarial user would try them: every mistake is named before anything is written
or trained, every fault is recoverable as its message says (one test per class)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from helpers import TINY_OVERRIDES, tiny_config
from oadn.cli import app
from oadn.config import ConfigError, build_config
from oadn.data.adapters.synthetic import SyntheticDataset
from oadn.data.faces import FaceSource
from oadn.data.registry import register_dataset
from oadn.engine.evaluate import evaluate_run
from oadn.engine.preflight import check_run
from oadn.engine.resume import CheckpointDamaged
from oadn.engine.run_dir import RunLock, RunLockedError
from oadn.engine.train import TrainingDiverged, train_run
from oadn.models.oadn import OADN

runner = CliRunner()


class Interrupt(Exception):
    pass


def sets(*extra: str) -> list[str]:
    args = []
    for text in [*TINY_OVERRIDES, "train.epochs=1", *extra]:
        args += ["--set", text]
    return args


def kill_in_second_epoch(epoch: int, step: int) -> None:
    if epoch == 1 and step == 3:
        raise Interrupt


def test_values_are_type_checked_when_the_config_is_built(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.train\.epochs: expected int, got 'abc'"):
        build_config(overrides=["train.epochs=abc"])
    with pytest.raises(ConfigError, match=r"config\.data\.test_splits: expected a list"):
        build_config(overrides=["data.test_splits=test"])
    with pytest.raises(ConfigError, match=r"config\.data\.hflip: expected bool"):
        build_config(overrides=["data.hflip=3"])
    with pytest.raises(ConfigError, match=r"train\.lr_milestones\[1\]: expected int"):
        build_config(overrides=["train.lr_milestones=[1, x]"])
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_config(overrides=["data.split_options={cache_dir: /x"])
    file = tmp_path / "c.yaml"
    file.write_text("train:\n  lr: 1e-3\n  weight_decay: 5e-4\nmodel:\n  pretrained: null\ndata:\n  root: /data\n")
    config = build_config([file])
    assert config.train.lr == 0.001 and isinstance(config.train.lr, float) and config.train.weight_decay == 5e-4
    assert config.model.pretrained is None and config.data.root == "/data"


def test_a_run_failing_during_setup_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("model cannot be built")

    monkeypatch.setattr("oadn.engine.train.create_model", broken)
    with pytest.raises(ValueError, match="model cannot be built"):
        train_run(tiny_config("train.epochs=1"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    monkeypatch.undo()
    train_run(tiny_config("train.epochs=1"), tmp_path / "run", progress=False)  # the retry is not blocked


def test_values_out_of_range_are_named(tmp_path):
    for override, message in [
        ("model.threshold=1.5", r"model\.threshold = 1\.5: expected T in \[0, 1\]"),
        ("model.regions=3", "K a square number"),
        ("model.lam=2", "lambda in"),
        ("train.epochs=0", r"train\.epochs = 0"),
        ("data.on_bad_image=ignore", "skip or fail"),
    ]:
        with pytest.raises(ConfigError, match=message):
            tiny_config(override)
    with pytest.raises(ConfigError, match=r"image_size = 16 is too small for backbone resnet50 \(stride 16\).*>= 32"):
        check_run(tiny_config("data.image_size=16", "model.backbone=resnet50"), tmp_path / "run")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'cache_dirr' for synthetic; valid: .*occlusion"):
        check_run(tiny_config("data.split_options={cache_dirr: /x}"), tmp_path / "run")
    with pytest.raises(ConfigError, match=r"synthetic has no option\(s\) trainsize; valid: .*train_size"):
        check_run(tiny_config("data.options={trainsize: 5}"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_every_split_is_checked_before_the_first_step(tmp_path):
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"data\.test_splits: data set 'synthetic' has no split 'test'; it has"):
        train_run(tiny_config("data.test_splits=[test_clean, test]"), tmp_path / "run", progress=False)
    assert time.perf_counter() - started < 5 and not (tmp_path / "run").exists()
    result = runner.invoke(app, ["train", "--run-dir", str(tmp_path / "default")])
    assert result.exit_code == 2 and "has no split 'test'" in result.output
    assert not (tmp_path / "default").exists()


@pytest.mark.slow
def test_resume_refuses_an_edited_config_and_takes_named_changes_on_record(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Interrupt):
        train_run(tiny_config("train.epochs=3", "train.lr_milestones=[2]"), run, progress=False,
                  step_hook=kill_in_second_epoch)
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("lr: 0.05", "lr: 0.01"))
    edited = r"train\.lr: 0\.05 \(trained\) -> 0\.01 \(config\.yaml\).*--set train\.lr=0\.01"
    with pytest.raises(ConfigError, match=edited):
        train_run(None, run, resume=True, progress=False)
    with pytest.raises(ConfigError, match=r"cannot change model\.regions"):
        train_run(None, run, resume=True, progress=False, changes=["train.lr=0.01", "model.regions=9"])
    train_run(None, run, resume=True, progress=False, changes=["train.lr=0.01"])
    history = pd.read_json(run / "history.jsonl", lines=True)
    assert history["lr"].tolist() == pytest.approx([0.05, 0.01, 0.001])  # milestone 2 still divides by 10
    record = json.loads((run / "resume_changes.jsonl").read_text())
    assert record["after_epoch"] == 1 and record["changes"]["train.lr"] == {"from": 0.05, "to": 0.01}

    unedited = tmp_path / "unedited"  # the same change without touching config.yaml first
    with pytest.raises(Interrupt):
        train_run(tiny_config("train.epochs=3", "train.lr_milestones=[2]"), unedited, progress=False,
                  step_hook=kill_in_second_epoch)
    train_run(None, unedited, resume=True, progress=False, changes=["train.lr=0.01"])
    assert pd.read_json(unedited / "history.jsonl", lines=True)["lr"].tolist() == pytest.approx([0.05, 0.01, 0.001])
    assert "lr: 0.01" in (unedited / "config.yaml").read_text()


def test_nan_loss_advice_is_a_command_and_names_nan_landmarks(tmp_path, monkeypatch):
    original = OADN.loss

    def loss(self, outputs, targets, label_smoothing=0.0):
        value, parts = original(self, outputs, targets, label_smoothing)
        return value * float("nan"), {k: v * float("nan") for k, v in parts.items()}

    monkeypatch.setattr(OADN, "loss", loss)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=rf"oadn-bench train --resume {run} --set train\.lr=0\.005") as error:
        train_run(tiny_config(), run, progress=False)
    assert "NaN/inf landmarks" not in str(error.value)
    monkeypatch.undo()

    with pytest.warns(UserWarning, match="NaN/inf landmarks"):
        with pytest.raises(TrainingDiverged, match="had NaN/inf landmarks"):
            train_run(tiny_config("data.name=test-nan-landmarks"), tmp_path / "nan", progress=False)


class _EditedLandmarks(FaceSource):
    """A synthetic split whose landmarks go through ``edit`` (NaN positions, low scores)."""

    def __init__(self, source, edit):
        self.source, self.classes, self.edit = source, source.classes, edit

    def __len__(self):
        return len(self.source)

    def read(self, indices, epoch=0):
        batch = self.source.read(indices, epoch)
        for points in batch.landmarks:
            self.edit(points)
        return batch

    labels = property(lambda self: self.source.labels)
    image_ids = property(lambda self: self.source.image_ids)
    fingerprint = property(lambda self: f"{self.source.fingerprint}|edited")


def _nan_positions(points):
    points[:, :2] = np.nan


def _low_scores(points):
    points[:, 2] *= 0.5


@register_dataset("test-nan-landmarks")
class NaNLandmarkSynthetic(SyntheticDataset):
    def open_split(self, split, *, root=None, image_size=112, **options):
        return _EditedLandmarks(super().open_split(split, root=root, image_size=image_size, **options), _nan_positions)


@register_dataset("test-low-scores")
class LowScoreSynthetic(SyntheticDataset):
    def open_split(self, split, *, root=None, image_size=112, **options):
        return _EditedLandmarks(super().open_split(split, root=root, image_size=image_size, **options), _low_scores)


def test_a_warning_when_no_landmark_reaches_the_threshold(tmp_path):
    with pytest.warns(UserWarning, match=r"below model\.threshold = 0\.6 \(highest 0\.5.*cannot learn"):
        train_run(tiny_config("data.name=test-low-scores", "train.epochs=1"), tmp_path / "run", progress=False)


def test_exit_codes_follow_click_and_version(tmp_path):
    assert runner.invoke(app, ["train", "--bogus"]).exit_code == 2
    result = runner.invoke(app, ["train", "--run-dir", str(tmp_path / "r"), "--set", "train.epochs=abc"])
    assert result.exit_code == 2 and "train.epochs" in result.output
    result = runner.invoke(app, ["train", "--set", "data.split_options={cache_dir: /x"])
    assert result.exit_code == 2 and "not valid YAML" in result.output
    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "not a run directory" in result.output
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("oadn-bench 0.")


def test_cache_dir_reaches_the_split_options(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("oadn.engine.train.train_run", lambda config, run_dir, **kw: seen.setdefault("c", config))
    args = ["train", "--run-dir", str(tmp_path / "r"), "--set", "data.name=rafdb", "--set", f"data.root={tmp_path}"]
    runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert seen.pop("c").data.split_options == {"cache_dir": str(tmp_path / "cache")}
    monkeypatch.setenv("OADN_CACHE", str(tmp_path / "env"))
    runner.invoke(app, args)
    assert seen.pop("c").data.split_options == {"cache_dir": str(tmp_path / "env")}
    runner.invoke(app, ["train", "--run-dir", str(tmp_path / "s"), *sets()])  # synthetic: no cache to point at
    assert seen.pop("c").data.split_options == {}
    result = runner.invoke(app, ["train", *sets(), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2 and "no prepared cache" in result.output


def test_no_progress_prints_one_line_per_epoch_and_bad_images_csv_always_exists(tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--run-dir", str(run), "--no-progress", *sets("train.epochs=2")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2") and "loss" in lines[1] and "val acc" in lines[1]
    assert pd.read_csv(run / "bad_images.csv").columns.tolist() == ["split", "image_id", "path", "reason"]


_HOLD = """
import sys, time
from oadn.engine.run_dir import RunLock
with RunLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
def test_a_run_directory_is_locked_and_a_dead_holder_is_taken_over(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(run)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=rf"in use by pid={holder.pid}"):
            RunLock(run).__enter__()
        with pytest.raises(RunLockedError):
            train_run(None, run, resume=True, progress=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(run) as lock:
        assert lock.stale and f"pid={holder.pid}" in lock.stale


def test_files_have_user_permissions_and_leftover_temporaries_go(tmp_path):
    run = tmp_path / "run"
    old = os.umask(0o022)
    try:
        with pytest.raises(Interrupt):
            train_run(tiny_config(), run, progress=False, step_hook=kill_in_second_epoch)
    finally:
        os.umask(old)
    for name in ("config.yaml", "checkpoint.pt", "best.pt"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o644, name
    leftover = run / ".checkpoint.pt.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    train_run(None, run, resume=True, progress=False)
    assert not leftover.exists()


def test_best_weights_are_restored_from_the_checkpoint_after_a_crash_between_writes(tmp_path, monkeypatch):
    from oadn.engine import train as train_module

    save = train_module.save_torch

    def crash_on_best(obj, path):
        if path.name == "best.pt":
            raise Interrupt
        save(obj, path)

    monkeypatch.setattr(train_module, "save_torch", crash_on_best)
    run = tmp_path / "run"
    with pytest.raises(Interrupt):
        train_run(tiny_config("train.epochs=1"), run, progress=False)
    monkeypatch.undo()
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["state"]["best_epoch"] == 1 and not (run / "best.pt").exists()
    train_run(None, run, resume=True, progress=False)
    best = torch.load(run / "best.pt", weights_only=True)
    assert all(torch.equal(best[k], checkpoint["model"][k]) for k in best)


def test_a_damaged_checkpoint_is_named_with_what_to_do(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Interrupt):
        train_run(tiny_config(), run, progress=False, step_hook=kill_in_second_epoch)
    data = (run / "checkpoint.pt").read_bytes()
    for damaged in (b"", data[: len(data) // 2]):
        (run / "checkpoint.pt").write_bytes(damaged)
        with pytest.raises(CheckpointDamaged, match=r"checkpoint\.pt is damaged: .*mv .*checkpoint\.pt"):
            train_run(None, run, resume=True, progress=False)
        result = runner.invoke(app, ["train", "--resume", str(run)])
        assert result.exit_code == 1 and "checkpoint.pt is damaged" in result.output


def test_evaluating_an_unfinished_run_warns_and_records_the_epoch(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Interrupt):
        train_run(tiny_config(), run, progress=False, step_hook=kill_in_second_epoch)
    with pytest.warns(UserWarning, match=r"unfinished \(1 of 2 epochs\); evaluating the weights of epoch 1"):
        evaluate_run(run, splits=["test_clean"], progress=False)
    weights = json.loads((run / "evaluations" / "synthetic" / "weights.json").read_text())
    assert weights == {"finished": False, "epoch": 1, "epochs_done": 1, "epochs": 2}


def test_preflight_accepts_a_timm_tag_but_names_a_missing_weights_file(tmp_path):
    """A pretrained tag is fetched (or named missing) when the backbone is built; only a file must exist up front."""
    from oadn.engine.preflight import check_model

    check_model(tiny_config("model.pretrained=imagenet"))
    with pytest.raises(ConfigError, match="no such file"):
        check_model(tiny_config(f"model.pretrained={tmp_path / 'missing.pth'}"))
