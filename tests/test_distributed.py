"""`oadn-bench train` under torchrun (2 CPU processes, gloo) ends where one process with the same global batch ends.

Tolerance: the weights agree to 1e-4 (relative) and the losses and validation scores to 1e-4. DDP averages the
two ranks' gradients with an all-reduce, whose summation order differs from one process's batch mean, so
results agree to float rounding, not bit for bit. The backbone is timm's ``test_convnext`` (LayerNorm, no batch
norm): torch has no CPU SyncBatchNorm, so a BN backbone on gloo would normalise each rank's half-batch alone
(on CUDA, DDP runs convert batch norm to SyncBatchNorm, which makes the statistics those of the global batch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from oadn.config import build_config
from oadn.engine.train import train_run

OVERRIDES = [
    "data.name=synthetic", "data.options={train_size: 70, test_size: 14, seed: 1}", "data.image_size=64",
    "data.test_splits=[test_clean]", "data.num_workers=0", "model.backbone=timm:test_convnext", "train.epochs=2",
    "train.batch_size=16", "train.lr=0.05", "train.lr_milestones=[1]", "train.eval_batch_size=16", "train.device=cpu",
]


def test_two_process_ddp_equals_one_process(tmp_path):
    single = train_run(build_config(overrides=OVERRIDES), tmp_path / "single", progress=False)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "oadn", "train", "--run-dir", str(tmp_path / "ddp"), "--no-progress"]
    for override in OVERRIDES:
        command += ["--set", override]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert ddp["selected_epoch"] == single["selected_epoch"]
    for split in ("val", "test_clean"):
        assert ddp["splits"][split]["prediction"]["count"] == single["splits"][split]["prediction"]["count"]
    a = torch.load(tmp_path / "single" / "best.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp" / "best.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5)
    history = [pd.read_json(tmp_path / run / "history.jsonl", lines=True) for run in ("single", "ddp")]
    for column in ("loss", "loss_lab", "loss_frb", "val_accuracy", "images"):
        pd.testing.assert_series_equal(history[1][column], history[0][column], rtol=1e-4)
    scores = [pd.read_parquet(tmp_path / run / "predictions" / "test_clean.parquet") for run in ("single", "ddp")]
    assert scores[0]["image_id"].tolist() == scores[1]["image_id"].tolist()
    torch.testing.assert_close(torch.tensor(list(scores[1]["scores"])), torch.tensor(list(scores[0]["scores"])),
                               rtol=1e-4, atol=1e-5)
    assert not list((tmp_path / "ddp").glob("*.tmp"))
