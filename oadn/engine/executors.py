"""Where training jobs run: a decorator registry of executors; ``local`` trains them here, one after another.

Other executors (e.g. a cluster scheduler) register under their own name with ``@register_executor`` and
receive the same :class:`RunJob` list; suites and sweeps only ever talk to this interface.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from oadn.config import RunConfig


@dataclass
class RunJob:
    """One run to train: a fresh configuration, or ``config=None`` with ``resume=True`` to continue ``run_dir``."""

    config: RunConfig | None
    run_dir: Path
    resume: bool
    label: str


@dataclass
class JobOutcome:
    """What became of a job: ``finished`` with its metrics, or ``failed`` with the error's text."""

    job: RunJob
    status: str
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class Executor:
    """Runs jobs and reports one outcome per job, in the jobs' order."""

    def run(self, jobs: list[RunJob]) -> list[JobOutcome]:  # pragma: no cover - interface
        raise NotImplementedError


E = TypeVar("E", bound=type[Executor])
_EXECUTORS: dict[str, type[Executor]] = {}


def register_executor(name: str) -> Callable[[E], E]:
    """Class decorator adding an executor to the registry under ``name``."""

    def decorate(cls: E) -> E:
        if name in _EXECUTORS:
            raise ValueError(f"executor {name!r} is registered twice")
        _EXECUTORS[name] = cls
        return cls

    return decorate


def _load_builtin_executors() -> None:
    # Executors kept in their own modules register on import (the slurm one needs submitit only when built).
    import oadn.engine.slurm  # noqa: F401


def list_executors() -> list[str]:
    _load_builtin_executors()
    return sorted(_EXECUTORS)


def get_executor(name: str, **options: Any) -> Executor:
    """The executor registered as ``name``, built with ``options`` (e.g. ``progress=False``)."""
    _load_builtin_executors()
    if name not in _EXECUTORS:
        raise KeyError(f"unknown executor {name!r}; registered: {', '.join(list_executors())}")
    return _EXECUTORS[name](**options)


@register_executor("local")
class LocalExecutor(Executor):
    """Trains each job in this process, in turn; an error stops the batch (it is a bug or bad data to fix)."""

    def __init__(self, progress: bool = True, log: Callable[[str], None] = print):
        self.progress = progress
        self.log = log

    def run(self, jobs: list[RunJob]) -> list[JobOutcome]:
        from oadn.engine.train import train_run

        outcomes = []
        for job in jobs:
            self.log(f"{job.label}: {'resuming' if job.resume else 'training'} in {job.run_dir}")
            started = time.perf_counter()
            metrics = train_run(job.config, job.run_dir, resume=job.resume, progress=self.progress)
            seconds = time.perf_counter() - started
            self.log(f"{job.label}: done in {seconds:.0f} s")
            outcomes.append(JobOutcome(job, "finished", seconds, metrics))
        return outcomes
