"""Executors: where a suite's or an ablation's runs train: ``local`` (here, in turn) and ``slurm`` (one SLURM job
per run, through submitit), registered by :mod:`.builtin` at the registry's first lookup."""

from oadn.experiments.executors.base import EXECUTORS, Executor, JobOutcome, RunJob, get_executor, register_executor

__all__ = ["EXECUTORS", "Executor", "JobOutcome", "RunJob", "get_executor", "register_executor"]
