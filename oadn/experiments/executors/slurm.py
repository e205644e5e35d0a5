"""The ``slurm`` executor: each run of a suite or ablation is one SLURM job, submitted through submitit.

Install with the ``slurm`` extra (``pip install 'oadn-bench[slurm]'``). Options arrive as
``--executor-option KEY=VALUE``: ``partition``, ``gpus`` (per job, default 1), ``time`` (minutes, default 240),
``cpus`` (per job, default 10), ``mem_gb``, ``folder`` (logs and pickles, default ``slurm-logs``),
``account``, ``qos``, ``constraint``. ``cluster=local`` runs the same path as local processes (what the tests
use; ``cluster=debug`` runs in this process). A job that hits its time limit or is pre-empted is requeued by
submitit and continues from its last epoch (``train --resume``); finished runs are never resubmitted, since
suites reuse them before calling the executor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from oadn.common.plugins import load_plugins
from oadn.config import config_from_dict, config_to_dict
from oadn.engine.train import train_run
from oadn.experiments.executors.base import Executor, JobOutcome, RunJob, register_executor


class TrainJob:
    """What a SLURM job runs: ``train_run`` on its run directory, resumable when SLURM stops it early."""

    def __call__(self, config: dict[str, Any] | None, run_dir: Path, resume: bool,
                 plugins: tuple[str, ...] = ()) -> tuple[dict[str, Any], float]:
        """``config`` comes as plain data (``config_to_dict``): a plugin method's options are a class of the plugin,
        which the job's process can build only once it has loaded the plugin."""
        started = time.perf_counter()
        load_plugins(plugins)  # the job's own process knows only the built-in entries until it loads them
        metrics = train_run(None if config is None else config_from_dict(config), run_dir, resume=resume,
                            progress=False)
        return metrics, time.perf_counter() - started

    def checkpoint(self, config: dict[str, Any] | None, run_dir: Path, resume: bool, plugins: tuple[str, ...] = ()):
        """Requeue after a time-out or pre-emption as a resume of the same run (submitit's protocol)."""
        import submitit

        again = resume or (Path(run_dir) / "config.yaml").is_file()
        return submitit.helpers.DelayedSubmission(TrainJob(), None if again else config, run_dir, again, plugins)


@register_executor("slurm")
class SlurmExecutor(Executor):
    """Submits every job at once (one SLURM array), then waits for each and reports it in the jobs' order."""

    def __init__(
        self,
        partition: str | None = None,
        gpus: int = 1,
        time: int = 240,
        cpus: int = 10,
        mem_gb: int | None = None,
        folder: str = "slurm-logs",
        cluster: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        constraint: str | None = None,
        progress: bool = False,
        log: Callable[[str], None] = print,
    ):
        try:
            import submitit
        except ImportError as error:
            raise RuntimeError("the slurm executor needs submitit: pip install 'oadn-bench[slurm]'") from error
        self.log = log
        self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        parameters: dict[str, Any] = {"timeout_min": int(time), "gpus_per_node": int(gpus), "cpus_per_task": int(cpus),
                                      "nodes": 1, "tasks_per_node": 1, "name": "oadn-bench"}
        if mem_gb is not None:
            parameters["mem_gb"] = int(mem_gb)
        slurm_only = {"slurm_partition": partition, "slurm_account": account, "slurm_qos": qos,
                      "slurm_constraint": constraint}
        if self.executor.cluster == "slurm":
            parameters.update({k: v for k, v in slurm_only.items() if v is not None})
        elif any(v is not None for v in slurm_only.values()):
            log(f"executor cluster {self.executor.cluster!r}: SLURM-only options ignored")
        self.executor.update_parameters(**parameters)

    def run(self, jobs: list[RunJob]) -> list[JobOutcome]:
        with self.executor.batch():
            submitted = [self.executor.submit(TrainJob(), None if job.config is None else config_to_dict(job.config),
                                              job.run_dir, job.resume, tuple(job.plugins))
                         for job in jobs]
        for job, handle in zip(jobs, submitted):
            self.log(f"{job.label}: submitted as job {handle.job_id} ({job.run_dir})")
        outcomes = []
        for job, handle in zip(jobs, submitted):
            try:
                metrics, seconds = handle.result()
            except Exception as error:  # the job's own traceback is in its log; the suite reports it unfinished
                self.log(f"{job.label}: job {handle.job_id} failed: {error}")
                outcomes.append(JobOutcome(job, "failed", 0.0, error=f"job {handle.job_id}: {error}"))
                continue
            self.log(f"{job.label}: job {handle.job_id} done in {seconds:.0f} s")
            outcomes.append(JobOutcome(job, "finished", seconds, metrics))
        return outcomes
