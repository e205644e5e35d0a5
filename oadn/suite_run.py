"""Running a planned suite: prepare missing landmark caches, train what is missing through an executor, score
every column, and write the manifest (``manifest.csv`` + ``suite.json``) that reports are rendered from.

Only finished runs (final metrics written) are ever scored or reported; a resumed run is reported once it
finishes. The report is rendered by :func:`oadn.report.render_suite_report` from the manifest alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from oadn.engine.checkpoint_eval import evaluate_missing
from oadn.engine.executors import RunJob, get_executor
from oadn.planning import DataCheck, DataLocations, ExperimentPlan, PlannedRun, format_plan, plan_suite
from oadn.report import render_suite_report
from oadn.report.manifest import COLUMNS as MANIFEST_COLUMNS
from oadn.runs import load_config, load_metrics
from oadn.suite import Suite

Log = Callable[[str], None]


@dataclass
class Summary:
    """What a suite call did, for the closing lines and ``suite.json``."""

    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"ran": len(self.ran), "reused": len(self.reused), "resumed": len(self.resumed),
                "skipped": len(self.skipped)}

    def lines(self) -> list[str]:
        out = [f"summary: {len(self.ran)} ran, {len(self.reused)} reused, {len(self.resumed)} resumed, "
               f"{len(self.skipped)} skipped"]
        out += [f"  skipped {label}: {why}" for label, why in self.skipped]
        return out


def prepare_caches(plans: list[ExperimentPlan], locations: DataLocations, progress: bool, log: Log) -> None:
    """Every landmark cache a plan with runs to do is missing (its training data's and its columns')."""
    for plan in plans:
        for check in [plan.data] + [c.data for c in plan.columns if c.data is not None]:
            if check.ok and check.prepare and any(r.status != "skip" for r in plan.runs):
                prepare_cache(check, locations, progress, log)


def prepare_cache(check: DataCheck, locations: DataLocations, progress: bool, log: Log) -> None:
    """Make the landmark cache ``check`` is missing, with a progress bar."""
    from oadn.preprocess.prepare import prepare
    from oadn.progress import progress_bar

    log(f"preparing the {check.prepare} landmark cache of {check.adapter.cache_name} at {check.root}")
    with progress_bar(progress) as bar:
        task = bar.add_task(f"prepare {check.adapter.cache_name}", total=None, info="")
        prepare(check.adapter, check.root, landmarks=check.prepare, cache_dir=locations.cache_dir,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
    check.prepare = None


def _label(run: PlannedRun) -> str:
    return f"{run.experiment.id} / {run.method} / seed {run.seed}"


def train_missing(plans: list[ExperimentPlan], executor: str, executor_options: dict[str, Any], summary: Summary,
                  progress: bool, log: Log) -> None:
    """Hand every new or unfinished run to the executor; reused and skipped ones are only counted."""
    jobs, planned = [], []
    for plan in plans:
        for run in plan.runs:
            if run.status == "skip":
                summary.skipped.append((_label(run), run.reason))
            elif run.status == "reuse":
                log(f"{_label(run)}: finished run found in {run.run_dir}, reusing it")
                summary.reused.append(_label(run))
            else:
                resume = run.status == "resume"
                jobs.append(RunJob(None if resume else run.config, run.run_dir, resume, _label(run)))
                planned.append(run)
    if not jobs:
        return
    options = {"progress": progress, **executor_options}
    for run, outcome in zip(planned, get_executor(executor, **options).run(jobs)):
        if outcome.status == "finished":
            (summary.resumed if run.status == "resume" else summary.ran).append(_label(run))
        else:
            summary.skipped.append((_label(run), f"unfinished: {outcome.error}"))


def _row(suite: Suite, run: PlannedRun, column, dataset: str, options: dict[str, Any]) -> dict[str, Any]:
    exp = run.experiment
    return {
        "suite": suite.name, "experiment": exp.id, "experiment_title": exp.title, "table": column.table,
        "column": column.name, "published_key": column.published_key, "dataset": dataset, "split": column.split,
        "options": json.dumps(options, sort_keys=True), "method": run.method, "seed": run.seed,
        "init": run.init, "status": "skipped", "reason": "", "run_dir": str(run.run_dir or ""), "predictions": "",
        "classes": "[]", "scored_classes": "[]", "restricted": False,
    }


def score_columns(suite: Suite, plans: list[ExperimentPlan], locations: DataLocations, progress: bool,
                  log: Log) -> list[dict[str, Any]]:
    """Manifest rows, one per experiment x column x method x seed."""
    rows = []
    for plan in plans:
        for run in plan.runs:
            finished = run.run_dir is not None and (Path(run.run_dir) / "metrics.json").is_file()
            config = load_config(run.run_dir) if finished else run.config
            for column in plan.columns:
                options = config.data.options if config is not None and column.data is None else (
                    column.column.options or {})
                row = _row(suite, run, column.column, column.dataset, dict(options))
                rows.append(row)
                if not finished:
                    row["status"] = "skipped" if run.status == "skip" else "unfinished"
                    row["reason"] = run.reason or "the run has no final metrics"
                    continue
                if column.data is not None and not column.data.ok:
                    row["reason"] = column.data.reason
                    continue
                info = _column_metrics(run, config, column, locations, progress, log)
                row.update(status="finished", predictions=info["predictions"], options=json.dumps(info["options"], sort_keys=True),
                           classes=json.dumps(info["classes"]), scored_classes=json.dumps(info["scored_classes"]),
                           restricted=info["restricted"])
    return rows


def _column_metrics(run, config, column, locations, progress, log) -> dict[str, Any]:
    """Where a finished run's predictions on one column are (scoring it first when needed), and how classes were scored."""
    split = column.column.split
    run_dir = Path(run.run_dir)
    if column.data is None:
        classes = load_metrics(run_dir)["splits"][split]["prediction"]["classes"]
        info = {"predictions": str(run_dir / "predictions" / f"{split}.parquet"), "options": config.data.options,
                "classes": classes, "scored_classes": classes, "restricted": False}
        return info
    spec, _ = evaluate_missing(run_dir, [split], dataset=column.dataset, root=column.data.root,
                               options=column.column.options, split_options=column.data.split_options(locations),
                               progress=progress, log=lambda text: log(f"{_label(run)}, {column.column.name}: {text}"))
    described = spec.describe()
    info = {"predictions": str(spec.out_dir / f"{split}.parquet"), "options": spec.options,
            "classes": described["classes"], "scored_classes": described["scored_classes"],
            "restricted": described["restricted"]}
    return info


def plan_and_train(
    suite: Suite,
    runs_root: Path,
    locations: DataLocations,
    *,
    overrides: Iterable[str],
    executor: str,
    executor_options: dict[str, Any] | None,
    dry_run: bool,
    progress: bool,
    log: Log,
) -> tuple[list[ExperimentPlan], Summary] | None:
    """What suites and sweeps share: plan every run, then prepare missing landmark caches and train what is not
    finished; None after a dry run, which only prints the plan."""
    plans = plan_suite(suite, runs_root, locations, overrides)
    if dry_run:
        log(format_plan(plans))
        return None
    prepare_caches(plans, locations, progress, log)
    summary = Summary()
    train_missing(plans, executor, executor_options or {}, summary, progress, log)
    return plans, summary


def run_suite(
    suite: Suite,
    runs_root: Path,
    report_dir: Path,
    locations: DataLocations,
    *,
    overrides: Iterable[str] = (),
    executor: str = "local",
    executor_options: dict[str, Any] | None = None,
    dry_run: bool = False,
    progress: bool = True,
    log: Log = print,
) -> Summary:
    """Plan, prepare, train, score and report one suite (``dry_run``: print the plan and stop)."""
    started = time.perf_counter()
    trained = plan_and_train(suite, runs_root, locations, overrides=overrides, executor=executor,
                             executor_options=executor_options, dry_run=dry_run, progress=progress, log=log)
    if trained is None:
        return Summary()
    plans, summary = trained
    rows = score_columns(suite, plans, locations, progress, log)
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(report_dir / "manifest.csv", index=False)
    (report_dir / "suite.json").write_text(json.dumps({
        "name": suite.name, "description": suite.description, "notes": suite.notes,
        "wall_seconds": round(time.perf_counter() - started, 1), "summary": summary.counts(),
        "details": {"ran": summary.ran, "reused": summary.reused, "resumed": summary.resumed,
                    "skipped": [{"run": label, "reason": why} for label, why in summary.skipped]},
    }, indent=2) + "\n")
    path = render_suite_report(report_dir)
    log((report_dir / "results.md").read_text())
    for line in summary.lines():
        log(line)
    log(f"report written to {path}")
    return summary
