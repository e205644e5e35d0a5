"""Training behaviour: learning happens, interrupted runs resume exactly, divergence and bad images are loud."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import tiny_config
from helpers_broken import BAD_INDICES
from oadn.data.adapters.synthetic import SyntheticDataset
from oadn.data.faces import BadImageError
from oadn.engine import distributed
from oadn.engine.run_dir import BadImageLog
from oadn.engine.splits import carve_validation
from oadn.engine.train import TrainingDiverged, train_run
from oadn.models.oadn import OADN


class Interrupt(Exception):
    pass


def test_training_loss_falls_on_a_tiny_set(tmp_path):
    config = tiny_config(
        "train.epochs=8",
        "train.batch_size=8",
        "train.lr_milestones=[6]",
        "data.options={train_size: 56, test_size: 14, train_occlusion: 0.0}",  # no occluders, redrawn each epoch
        "model.backbone=cnn-tiny",
    )
    metrics = train_run(config, tmp_path / "run", progress=False)
    history = pd.read_json(tmp_path / "run" / "history.jsonl", lines=True)
    assert len(history) == 8
    assert history["loss"].iloc[-1] < 0.9 * history["loss"].iloc[0]  # 0.84 on today's synthetic draw
    assert set(metrics["splits"]) == {"val", "test_clean", "test_occluded"}
    assert set(metrics["splits"]["test_clean"]) == {"prediction", "lab", "frb"}


@pytest.mark.slow
def test_a_run_killed_mid_epoch_and_resumed_matches_an_uninterrupted_run(tmp_path):
    config = tiny_config()
    reference = train_run(config, tmp_path / "whole", progress=False)

    def kill_in_second_epoch(epoch: int, step: int) -> None:
        if epoch == 1 and step == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_run(config, tmp_path / "killed", progress=False, step_hook=kill_in_second_epoch)
    assert not (tmp_path / "killed" / "metrics.json").exists()
    assert torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)["state"]["epoch"] == 1
    resumed = train_run(None, tmp_path / "killed", resume=True, progress=False)

    assert json.dumps(resumed, sort_keys=True) == json.dumps(reference, sort_keys=True)
    whole = torch.load(tmp_path / "whole" / "best.pt", weights_only=True)
    again = torch.load(tmp_path / "killed" / "best.pt", weights_only=True)
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    a = pd.read_parquet(tmp_path / "whole" / "predictions" / "test_occluded.parquet")
    b = pd.read_parquet(tmp_path / "killed" / "predictions" / "test_occluded.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_a_finished_run_is_not_retrained_and_a_used_directory_is_refused(tmp_path):
    config = tiny_config("train.epochs=1")
    first = train_run(config, tmp_path / "run", progress=False)
    stamp = (tmp_path / "run" / "checkpoint.pt").stat().st_mtime_ns
    assert train_run(None, tmp_path / "run", resume=True, progress=False) == first
    assert (tmp_path / "run" / "checkpoint.pt").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="--resume"):
        train_run(config, tmp_path / "run", progress=False)


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    original = OADN.loss
    poisoned = {"on": False}

    def loss(self, outputs, targets, label_smoothing=0.0):
        value, parts = original(self, outputs, targets, label_smoothing)
        if poisoned["on"]:
            value = value * float("nan")
            parts = {k: v * float("nan") for k, v in parts.items()}
        return value, parts

    def poison_second_epoch(epoch: int, step: int) -> None:
        poisoned["on"] = epoch >= 1

    monkeypatch.setattr(OADN, "loss", loss)
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 2"):
        train_run(tiny_config(), tmp_path / "run", progress=False, step_hook=poison_second_epoch)
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert checkpoint["state"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values() if v.is_floating_point())
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_unreadable_images_are_skipped_and_recorded(tmp_path):
    config = tiny_config("data.name=test-broken-synthetic", "train.epochs=1", "data.val_fraction=0")
    metrics = train_run(config, tmp_path / "run", progress=False)
    bad = pd.read_csv(tmp_path / "run" / "bad_images.csv")
    assert set(bad["split"]) == {"train", "test_clean", "test_occluded"}
    assert len(bad) == 3 * len(BAD_INDICES)
    assert set(bad["reason"]) == {"truncated JPEG"}
    assert metrics["bad_images"] == 9
    assert metrics["splits"]["test_clean"]["prediction"]["count"] == 42 - len(BAD_INDICES)


def test_unreadable_images_can_fail_the_run(tmp_path):
    config = tiny_config("data.name=test-broken-synthetic", "train.epochs=1", "data.on_bad_image=fail")
    with pytest.raises(BadImageError, match="truncated JPEG"):
        train_run(config, tmp_path / "run", progress=False)


def test_validation_is_carved_stratified_and_disjoint():
    source = SyntheticDataset(train_size=700).open_split("train", image_size=32)
    train, val = carve_validation(source, 0.2, seed=0)
    assert len(val) == 140 and len(train) == 560
    assert set(train.indices).isdisjoint(val.indices)
    assert np.bincount(val.labels).tolist() == [20] * 7


def test_train_compile_takes_a_torch_compile_mode_and_cuda_graph_modes_mark_every_step(tmp_path, monkeypatch):
    """``train.compile: reduce-overhead`` compiles the model and its loss in that mode and marks the start of every
    step for the CUDA graphs (torch.compile is replaced by a recorder: compiling takes minutes on this CPU, and CUDA
    graphs need a GPU). An unknown mode is refused by name before anything is written."""
    from oadn.config import ConfigError

    modes, marks, steps = [], [], []
    monkeypatch.setattr(torch, "compile", lambda fn, mode=None: modes.append(mode) or fn)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(len(steps)))
    config = tiny_config("train.compile=reduce-overhead", "train.epochs=1", "model.backbone=cnn-tiny")
    train_run(config, tmp_path / "run", progress=False, step_hook=lambda epoch, step: steps.append(step))
    assert modes == ["reduce-overhead", "reduce-overhead"]  # the model and, separately, its loss
    assert len(steps) > 1 and marks == list(range(len(steps)))  # before each step, none left out
    modes.clear()
    train_run(tiny_config("train.compile=true", "train.epochs=1", "model.backbone=cnn-tiny"), tmp_path / "default",
              progress=False)
    assert modes == ["default", "default"] and len(marks) == len(steps)  # no CUDA graphs: no marks
    with pytest.raises(ConfigError,
                       match=r"train.compile = 'fastest': expected true, false, auto or a torch.compile mode"):
        tiny_config("train.compile=fastest")


def test_the_bad_image_log_sends_other_ranks_only_the_records_it_met_since_its_last_gather(tmp_path, monkeypatch):
    sent = []
    other_rank = [{"split": "train", "image_id": "b", "path": "b.png", "reason": "truncated"}]

    def gather(value):
        sent.append(list(value))
        return [value, other_rank]

    monkeypatch.setattr(distributed, "gather_objects", gather)
    log = BadImageLog(tmp_path / "bad_images.csv")
    log.add("train", [("a", "a.png", "unreadable")])
    log.gather_ranks()
    log.add("train", [("a", "a.png", "unreadable"), ("b", "b.png", "truncated"), ("c", "c.png", "empty")])
    log.gather_ranks()
    log.gather_ranks()
    assert [[row["image_id"] for row in rows] for rows in sent] == [["a"], ["c"], []]
    log.flush()
    assert sorted(pd.read_csv(tmp_path / "bad_images.csv")["image_id"]) == ["a", "b", "c"]


def test_the_tensorboard_logger_writes_events_that_read_back_as_the_history(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train_run(tiny_config("model.backbone=cnn-tiny", "train.loggers=[tensorboard]"), run, progress=False)
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    history = pd.read_json(run / "history.jsonl", lines=True)
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "val/accuracy", "val/mean_class_accuracy"} <= tags
    for tag, column in (("train/loss", "loss"), ("val/accuracy", "val_accuracy"), ("train/lr", "lr")):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == list(history["epoch"])
        np.testing.assert_allclose([s.value for s in scalars], history[column], rtol=1e-6)
    assert (run / "history.jsonl").is_file()  # history.jsonl stays


def test_an_unknown_logger_is_a_config_error():
    from oadn.config import ConfigError

    with pytest.raises(ConfigError, match=r"train\.loggers.*one of: tensorboard"):
        tiny_config("train.loggers=[wandb]")
