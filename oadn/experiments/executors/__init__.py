"""Executors: where a suite's or an ablation's runs train. Importing this package registers ``local`` (here, in
turn) and ``slurm`` (one SLURM job per run, through submitit)."""

from oadn.experiments.executors import local, slurm  # noqa: F401  (register the executors)
from oadn.experiments.executors.base import EXECUTORS, Executor, JobOutcome, RunJob, get_executor, register_executor

__all__ = ["EXECUTORS", "Executor", "JobOutcome", "RunJob", "get_executor", "register_executor"]
