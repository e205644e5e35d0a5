"""`oadn-bench train` under torchrun (2 CPU processes, gloo) ends where one process with the same global batch ends,
also compiled, also when it was killed and resumed, and records the unreadable images every rank met.

Tolerance: the weights agree to 1e-4 (relative) and the losses and validation scores to 1e-4. DDP averages the
two ranks' gradients with an all-reduce, whose summation order differs from one process's batch mean, so
results agree to float rounding, not bit for bit. The backbone is timm's ``test_convnext`` (LayerNorm, no batch
norm): torch has no CPU SyncBatchNorm, so a BN backbone on gloo would normalise each rank's half-batch alone
(on CUDA, DDP runs convert batch norm to SyncBatchNorm, which makes the statistics those of the global batch).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import helpers_broken  # noqa: F401  (registers test-broken-synthetic)
from oadn.config import build_config
from oadn.engine.train import train_run

pytestmark = pytest.mark.slow  # torchrun with two processes, compiled and killed runs

TESTS = Path(__file__).resolve().parent

OVERRIDES = [
    "data.name=synthetic", "data.options={train_size: 70, test_size: 14, seed: 1}", "data.image_size=64",
    "data.test_splits=[test_clean]", "data.num_workers=0", "model.backbone=timm:test_convnext", "train.epochs=2",
    "train.batch_size=16", "train.lr=0.05", "train.lr_milestones=[1]", "train.eval_batch_size=16", "train.device=cpu",
    "train.cpu_amp=false",  # fp32: bf16 rounds a half batch's gradients otherwise than the whole batch's
]


def torchrun_command(*args: str, overrides: list[str] = ()) -> list[str]:
    """``oadn-bench ARGS`` on 2 processes (through an entry that also registers the test-only data sets)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(TESTS / "ddp_entry.py"), *args, "--no-progress"]
    for override in overrides:
        command += ["--set", override]
    return command


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{TESTS.parent}{os.pathsep}{TESTS}"}


def torchrun(*args: str, overrides: list[str] = ()) -> None:
    done = subprocess.run(torchrun_command(*args, overrides=overrides), env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def assert_same_training(single: Path, ddp: Path) -> None:
    """Same selected epoch, weights, history and test scores, to the tolerance in this module's docstring."""
    assert json.loads((ddp / "metrics.json").read_text())["selected_epoch"] == \
        json.loads((single / "metrics.json").read_text())["selected_epoch"]
    a = torch.load(single / "best.pt", weights_only=True)
    b = torch.load(ddp / "best.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5)
    history = [pd.read_json(run / "history.jsonl", lines=True) for run in (single, ddp)]
    for column in ("epoch", "lr", "loss", "loss_lab", "loss_frb", "val_accuracy", "images"):
        pd.testing.assert_series_equal(history[1][column], history[0][column], rtol=1e-4)
    scores = [pd.read_parquet(run / "predictions" / "test_clean.parquet") for run in (single, ddp)]
    assert scores[0]["image_id"].tolist() == scores[1]["image_id"].tolist()
    torch.testing.assert_close(torch.from_numpy(np.stack(scores[1]["scores"])),
                               torch.from_numpy(np.stack(scores[0]["scores"])), rtol=1e-4, atol=1e-5)
    assert not list(ddp.glob("*.tmp"))


def test_two_process_ddp_equals_one_process(tmp_path):
    single = train_run(build_config(overrides=OVERRIDES), tmp_path / "single", progress=False)
    torchrun("train", "--run-dir", str(tmp_path / "ddp"), overrides=OVERRIDES)
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    for split in ("val", "test_clean"):
        assert ddp["splits"][split]["prediction"]["count"] == single["splits"][split]["prediction"]["count"]
    assert_same_training(tmp_path / "single", tmp_path / "ddp")


def test_compiled_ddp_equals_one_compiled_process(tmp_path):
    """torch.compile under DDP (graphs split at gradient buckets) trains what one compiled process trains."""
    overrides = [*OVERRIDES, "train.compile=true", "train.epochs=1"]
    train_run(build_config(overrides=overrides), tmp_path / "single", progress=False)
    torchrun("train", "--run-dir", str(tmp_path / "ddp"), overrides=overrides)
    assert_same_training(tmp_path / "single", tmp_path / "ddp")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (torchrun starts its ranks in sessions of their own, so killing its
    process group would leave them running)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # exited meanwhile
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_a_ddp_run_killed_mid_training_and_resumed_equals_an_uninterrupted_run(tmp_path):
    overrides = [*OVERRIDES, "train.epochs=6"]
    train_run(build_config(overrides=overrides), tmp_path / "single", progress=False)
    run = tmp_path / "ddp"
    log = open(tmp_path / "killed.log", "w")
    job = subprocess.Popen(torchrun_command("train", "--run-dir", str(run), overrides=overrides), env=ENV,
                           stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not (run / "checkpoint.pt").exists():  # written at the end of epoch 1, atomically
        assert job.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.02)
    for pid in [*descendants(job.pid), job.pid]:  # every rank and torchrun itself, as a cluster's time limit would
        os.kill(pid, signal.SIGKILL)
    job.wait()
    assert not (run / "metrics.json").exists(), "the run finished before it could be killed"
    assert torch.load(run / "checkpoint.pt", weights_only=False)["state"]["epoch"] < 6
    time.sleep(1.0)
    assert not (run / "metrics.json").exists(), "a rank survived the kill"
    torchrun("train", "--resume", str(run))
    assert_same_training(tmp_path / "single", run)


def test_ddp_records_the_unreadable_images_of_every_rank(tmp_path):
    bad = list(range(0, 70, 5))  # enough that each rank meets some in its half of the batches
    overrides = [*OVERRIDES, "data.name=test-broken-synthetic", "train.epochs=1", "data.val_fraction=0",
                 f"data.options={{train_size: 70, test_size: 14, seed: 1, bad: {bad}}}"]
    train_run(build_config(overrides=overrides), tmp_path / "single", progress=False)
    torchrun("train", "--run-dir", str(tmp_path / "ddp"), overrides=overrides)
    bad = [pd.read_csv(tmp_path / run / "bad_images.csv").sort_values(["split", "image_id"]).reset_index(drop=True)
           for run in ("single", "ddp")]
    pd.testing.assert_frame_equal(bad[1], bad[0])
    train_rows = bad[0][bad[0]["split"] == "train"]
    assert 10 < len(train_rows) <= 14  # the ones in batches that were read (the tail is dropped)
