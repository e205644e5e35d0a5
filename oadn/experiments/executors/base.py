"""Where training jobs run: the executor interface and its registry (which knows none of its entries: the
``executors`` package registers ``local`` and ``slurm``).

An executor registers under its own name with ``@register_executor`` and receives a list of :class:`RunJob`;
suites and ablations only ever talk to this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oadn.common.registry import Registry
from oadn.config import RunConfig


@dataclass
class RunJob:
    """One run to train: a fresh configuration, or ``config=None`` with ``resume=True`` to continue ``run_dir``."""

    config: RunConfig | None
    run_dir: Path
    resume: bool
    label: str
    #: plugins the job's process must load before it trains (an executor running elsewhere loads them)
    plugins: list[str] = field(default_factory=list)


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


#: executors by ``--executor`` name; each entry is an Executor class built with the ``--executor-option`` values
EXECUTORS: Registry[type[Executor]] = Registry("executor", builtins="oadn.experiments.executors.builtin")
register_executor = EXECUTORS.register


def get_executor(name: str, **options: Any) -> Executor:
    """The executor registered as ``name``, built with ``options`` (e.g. ``progress=False``)."""
    return EXECUTORS.get(name)(**options)
