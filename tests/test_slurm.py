"""The slurm executor submits each run as one submitit job; submitit's local cluster runs the same path here."""

from __future__ import annotations

import pytest

from helpers import tiny_config
from oadn.experiments.executors import RunJob, get_executor

pytestmark = pytest.mark.slow  # a SLURM job through submitit's local cluster

pytest.importorskip("submitit")


def test_slurm_executor_runs_a_job_through_submitit(tmp_path):
    job = RunJob(tiny_config("train.epochs=1", "data.num_workers=0"), tmp_path / "run", False, "tiny")
    logged: list[str] = []
    executor = get_executor("slurm", cluster="local", folder=str(tmp_path / "logs"), partition="gpu", gpus=0,
                            time=10, log=logged.append)
    (outcome,) = executor.run([job])
    assert outcome.status == "finished" and outcome.metrics["epochs"] == 1
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert any("SLURM-only options ignored" in line for line in logged)
    assert any("submitted as job" in line for line in logged)


def test_a_failing_job_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setattr("pdb.post_mortem", lambda *args: None)  # submitit's in-process "debug" cluster opens pdb
    job = RunJob(tiny_config("model.backbone=no-such-net"), tmp_path / "run", False, "bad")
    executor = get_executor("slurm", cluster="debug", folder=str(tmp_path / "logs"), log=lambda line: None)
    (outcome,) = executor.run([job])
    assert outcome.status == "failed" and "no-such-net" in outcome.error
