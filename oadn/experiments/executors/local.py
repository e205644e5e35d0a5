"""The ``local`` executor: every job trains here, in this process, one after another."""

from __future__ import annotations

import time
from typing import Callable

from oadn.engine import train  # train.train_run is looked up per job: a test may stand in for it
from oadn.experiments.executors.base import Executor, JobOutcome, RunJob, register_executor


@register_executor("local")
class LocalExecutor(Executor):
    """Trains each job in this process, in turn; an error stops the batch (it is a bug or bad data to fix)."""

    def __init__(self, progress: bool = True, log: Callable[[str], None] = print):
        self.progress = progress
        self.log = log

    def run(self, jobs: list[RunJob]) -> list[JobOutcome]:
        outcomes = []
        for job in jobs:
            self.log(f"{job.label}: {'resuming' if job.resume else 'training'} in {job.run_dir}")
            started = time.perf_counter()
            metrics = train.train_run(job.config, job.run_dir, resume=job.resume, progress=self.progress)
            seconds = time.perf_counter() - started
            self.log(f"{job.label}: done in {seconds:.0f} s")
            outcomes.append(JobOutcome(job, "finished", seconds, metrics))
        return outcomes
