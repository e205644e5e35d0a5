"""Running a planned suite (or an ablation, which is one): prepare missing landmark caches, train what is missing
through an executor, score every column, and write the manifest (``manifest.csv`` + ``suite.json``) that
reports are rendered from.

Only finished runs (final metrics written) are ever scored or reported; a resumed run is reported once it
finishes. The report is rendered by :func:`oadn.report.render_suite_report` from the manifest alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from oadn.common.progress import progress_bar
from oadn.engine.evaluate import evaluate_missing
from oadn.engine.run_dir import load_config, load_metrics
from oadn.experiments.column_faces import keep_column_faces
from oadn.experiments.executors import RunJob, get_executor
from oadn.experiments.planning import (
    ColumnPlan,
    DataCheck,
    DataLocations,
    ExperimentPlan,
    PlannedRun,
    format_plan,
    plan_suite,
)
from oadn.experiments.suites import Suite
from oadn.preprocess.prepare import prepare
from oadn.report import render_suite_report
from oadn.report.figure_names import suite_figures
from oadn.report.manifest import ManifestRow, write_manifest
from oadn.report.output import claim, refuse_foreign
from oadn.report.qualitative import thumbnail_name
from oadn.report.suite_report import SUITE_INPUTS, SUITE_OUTPUTS

Log = Callable[[str], None]


@dataclass
class RunRequest:
    """What ``run`` and ``ablate`` share: where runs go and the data is, the overrides every run gets, where the
    runs train, and how the call reports."""

    runs_root: Path
    locations: DataLocations
    overrides: list[str] = field(default_factory=list)
    #: a registered executor (local, slurm) and its options
    executor: str = "local"
    executor_options: dict[str, Any] = field(default_factory=dict)
    #: only print the plan
    dry_run: bool = False
    progress: bool = True
    log: Log = print
    #: plugins loaded for this call (``--plugin``, the suite's ``plugins:``), as a job in another process loads them
    plugins: list[str] = field(default_factory=list)


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


def prepare_caches(plans: list[ExperimentPlan], request: RunRequest) -> None:
    """Every landmark cache a plan with runs to do is missing (its training data's and its columns')."""
    for plan in plans:
        for check in [plan.data] + [c.data for c in plan.columns if c.data is not None]:
            if check.ok and check.prepare and any(r.status != "skip" for r in plan.runs):
                prepare_cache(check, request)


def prepare_cache(check: DataCheck, request: RunRequest) -> None:
    """Make the landmark cache ``check`` is missing, with a progress bar."""
    locations, log = request.locations, request.log
    log(f"preparing the {check.prepare} landmark cache of {check.adapter.cache_name} at {check.root}")
    with progress_bar(request.progress) as bar:
        task = bar.add_task(f"prepare {check.adapter.cache_name}", total=None, info="")
        prepare(check.adapter, check.root, landmarks=check.prepare, cache_dir=locations.cache_dir,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
    check.prepare = None


def _label(run: PlannedRun) -> str:
    return f"{run.experiment.id} / {run.method} / seed {run.seed}"


def train_missing(plans: list[ExperimentPlan], summary: Summary, request: RunRequest) -> None:
    """Hand every new or unfinished run to the executor; reused and skipped ones are only counted."""
    log = request.log
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
                jobs.append(RunJob(None if resume else run.config, run.run_dir, resume, _label(run), request.plugins))
                planned.append(run)
    if not jobs:
        return
    options = {"progress": request.progress, **request.executor_options}
    for run, outcome in zip(planned, get_executor(request.executor, **options).run(jobs)):
        if outcome.status == "finished":
            (summary.resumed if run.status == "resume" else summary.ran).append(_label(run))
        else:
            summary.skipped.append((_label(run), f"unfinished: {outcome.error}"))


def _row(suite: Suite, run: PlannedRun, column: ColumnPlan, options: dict[str, Any], model: str) -> ManifestRow:
    exp, test_set = run.experiment, column.column
    row = ManifestRow(
        suite=suite.name, experiment=exp.id, experiment_title=exp.title, table=test_set.table, column=test_set.name,
        published_key=test_set.published_key, dataset=column.dataset, split=test_set.split, options="",
        method=run.method, seed=run.seed, init=run.init, run_dir=str(run.run_dir or ""), model=model,
    )
    row.set_options(options)
    return row


def score_columns(suite: Suite, plans: list[ExperimentPlan], request: RunRequest) -> list[ManifestRow]:
    """Manifest rows, one per experiment x column x method x seed."""
    rows = []
    for plan in plans:
        for run in plan.runs:
            finished = run.run_dir is not None and (Path(run.run_dir) / "metrics.json").is_file()
            config = load_config(run.run_dir) if finished else run.config
            for column in plan.columns:
                options = config.data.options if config is not None and column.data is None else (
                    column.column.options or {})
                row = _row(suite, run, column, dict(options), config.model.name if config is not None else "")
                rows.append(row)
                if not finished:
                    row.status = "skipped" if run.status == "skip" else "unfinished"
                    row.reason = run.reason or "the run has no final metrics"
                    continue
                if column.data is not None and not column.data.ok:
                    row.reason = column.data.reason
                    continue
                _score_column(row, run, config, column, request)
    return rows


def _score_column(row: ManifestRow, run: PlannedRun, config, column: ColumnPlan, request: RunRequest) -> None:
    """Fill ``row`` for a finished run: where its predictions on the column are (scoring it first when needed)
    and how classes were scored."""
    split = column.column.split
    run_dir = Path(run.run_dir)
    row.status = "finished"
    if column.data is None:
        classes = load_metrics(run_dir)["splits"][split]["prediction"]["classes"]
        row.predictions = str(run_dir / "predictions" / f"{split}.parquet")
        row.set_options(config.data.options)
        row.classes = row.scored_classes = json.dumps(classes)
        return
    spec, _ = evaluate_missing(
        run_dir, [split], dataset=column.dataset, root=column.data.root, options=column.column.options,
        split_options=column.data.split_options(request.locations), progress=request.progress,
        log=lambda text: request.log(f"{_label(run)}, {column.column.name}: {text}"),
    )
    described = spec.describe()
    row.predictions = str(spec.out_dir / f"{split}.parquet")
    row.set_options(spec.options)
    row.classes, row.scored_classes = json.dumps(described["classes"]), json.dumps(described["scored_classes"])
    row.restricted = described["restricted"]


def plan_and_train(suite: Suite, request: RunRequest) -> tuple[list[ExperimentPlan], Summary] | None:
    """What suites and ablations share: plan every run, then prepare missing landmark caches and train what is
    not finished; None after a dry run, which only prints the plan."""
    plans = plan_suite(suite, request.runs_root, request.locations, request.overrides)
    if request.dry_run:
        request.log(format_plan(plans))
        return None
    prepare_caches(plans, request)
    summary = Summary()
    train_missing(plans, summary, request)
    return plans, summary


def finish_report(report_dir: Path, info_file: str, info: dict[str, Any], started: float,
                  render: Callable[[Path], Path], markdown: str, summary: Summary, log: Log, what: str) -> Path:
    """Write ``info_file`` (with the wall time since ``started``), render the report, print its Markdown and the
    summary; returns the report's index page."""
    info = {**info, "wall_seconds": round(time.perf_counter() - started, 1)}
    refuse_foreign(report_dir, [info_file])
    claim(report_dir, [info_file])
    (report_dir / info_file).write_text(json.dumps(info, indent=2, default=str) + "\n")
    path = render(report_dir)
    log((report_dir / markdown).read_text())
    for line in summary.lines():
        log(line)
    log(f"{what} written to {path}")
    return path


def run_suite(suite: Suite, report_dir: Path, request: RunRequest) -> Summary:
    """Plan, prepare, train, score and report one suite (a dry run prints the plan and stops)."""
    started = time.perf_counter()
    report_dir = Path(report_dir)
    figures = suite_figures((e.id, [c.name for c in e.columns], e.methods) for e in suite.experiments)
    faces = tuple(thumbnail_name(e.id, c.name) for e in suite.experiments for c in e.columns)
    refuse_foreign(report_dir, SUITE_INPUTS + SUITE_OUTPUTS + tuple(figures) + faces)  # every file, before training
    trained = plan_and_train(suite, request)
    if trained is None:
        return Summary()
    plans, summary = trained
    rows = score_columns(suite, plans, request)
    claim(report_dir, ["manifest.csv"])
    write_manifest(rows, report_dir / "manifest.csv")
    keep_column_faces(report_dir, plans, request.locations, progress=request.progress, log=request.log)
    info = {
        "name": suite.name, "description": suite.description, "notes": suite.notes, "summary": summary.counts(),
        "endpoints": [endpoint.to_dict() for endpoint in suite.endpoints],
        "details": {"ran": summary.ran, "reused": summary.reused, "resumed": summary.resumed,
                    "skipped": [{"run": label, "reason": why} for label, why in summary.skipped]},
    }
    finish_report(report_dir, "suite.json", info, started, render_suite_report, "results.md", summary, request.log,
                  "report")
    return summary
