"""The ``oadn-bench`` command line: train, evaluate, run suites, inspect data sets and prepare caches."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks.bench import bench_command
from oadn import __version__
from oadn.config import ConfigError, build_config, parse_override
from oadn.data.cli import app as datasets_app
from oadn.preprocess.cli import prepare_command, show_landmarks_command
from oadn.suites_cli import ablate_command, run_command
from oadn.report.cli import report_command
from oadn.preprocess.pack import pack_command
from oadn.visibility.cli import fit_visibility_command

app = typer.Typer(
    help="Occlusion-robust facial expression recognition: OADN and baselines, benchmarks and ablations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
app.add_typer(datasets_app, name="datasets")
app.command("prepare")(prepare_command)
app.command("show-landmarks")(show_landmarks_command)
app.command("run")(run_command)
app.command("ablate")(ablate_command)
app.command("report")(report_command)
app.command("pack")(pack_command)
app.command("bench")(bench_command)
app.command("fit-visibility")(fit_visibility_command)

SET_HELP = "Override a configuration value, e.g. --set train.lr=0.01 (repeatable)."
CACHE_HELP = "Cache root of prepared data sets, as given to prepare (default $OADN_CACHE or ~/.cache/oadn-bench)."


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    console.print(f"[bold yellow]warning:[/] {escape(str(message))}")


warnings.showwarning = _show_warning


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"oadn-bench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """Occlusion-robust facial expression recognition: OADN and baselines, benchmarks and ablations."""


def _fail(message: str, code: int = 1) -> None:
    """Print a named error; exit 2 for a usage error (a bad option or configuration value), else 1 (click's codes)."""
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code=code)


def _cache_dir(dataset: str, options: dict[str, Any], cache_dir: Optional[Path]) -> Optional[Path]:
    """``--cache-dir`` (else $OADN_CACHE) for data.split_options.cache_dir; only on-disk data sets have a prepared
    cache, so an explicit --cache-dir for the synthetic one is a usage error."""
    from oadn.data.registry import get_dataset

    chosen = cache_dir or (Path(os.environ["OADN_CACHE"]) if os.environ.get("OADN_CACHE") else None)
    if chosen is None:
        return None
    try:
        needs_cache = get_dataset(dataset, **options).needs_root
    except (KeyError, TypeError, ValueError):
        return None  # the configuration check names the mistake
    if not needs_cache:
        if cache_dir is not None:
            raise ConfigError(f"--cache-dir: data set {dataset!r} is generated, it has no prepared cache")
        return None
    return chosen.expanduser().resolve()


def _metrics_table(title: str, splits: dict[str, Any]) -> Table:
    table = Table(title=title)
    for column in ("split", "branch", "n", "acc %", "mean-class acc %"):
        table.add_column(column)
    for split, branches in splits.items():
        for branch, values in branches.items():
            if isinstance(values, dict) and "accuracy" in values:
                table.add_row(
                    split,
                    branch,
                    str(values["count"]),
                    f"{100 * values['accuracy']:.2f}",
                    f"{100 * values['mean_class_accuracy']:.2f}",
                )
    return table


@app.command()
def train(
    config: list[Path] = typer.Option([], "--config", "-c", help="YAML config file(s), applied in order."),
    overrides: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default runs/<name>)."),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Continue the interrupted run in this directory; with --set, change the settings "
        "listed in the README (learning rate, epochs, ...), recorded in <run>/resume_changes.jsonl."
    ),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
    progress: bool = typer.Option(True, help="Show progress bars (without: one line per epoch)."),
) -> None:
    """Train one model; selects weights on validation data, then evaluates the test splits once."""
    from oadn.engine.resume import CheckpointDamaged
    from oadn.engine.train import TrainingDiverged, train_run
    from oadn.run_lock import RunLockedError
    from oadn.runs import load_config

    try:
        if resume is not None:
            if config:
                _fail("--resume takes the configuration saved in the run directory; drop --config", code=2)
            saved = load_config(resume).data
            cache = _cache_dir(saved.name, saved.options, cache_dir)
            changes = [*overrides] + ([f"data.split_options.cache_dir={json.dumps(str(cache))}"] if cache else [])
            target = resume
            metrics = train_run(None, resume, resume=True, progress=progress, changes=changes)
        else:
            run_config = build_config(config, overrides)
            cache = _cache_dir(run_config.data.name, run_config.data.options, cache_dir)
            if cache is not None:
                run_config.data.split_options = {**run_config.data.split_options, "cache_dir": str(cache)}
            target = run_dir or Path("runs") / run_config.name
            metrics = train_run(run_config, target, progress=progress)
    except ConfigError as error:
        _fail(str(error), code=2)
    except (TrainingDiverged, RunLockedError, CheckpointDamaged, OSError, KeyError, ValueError) as error:
        _fail(str(error))
    from oadn.engine.distributed import is_main

    if is_main():  # under torchrun every rank has the metrics; one table is enough
        console.print(_metrics_table(f"{target} (selected epoch {metrics['selected_epoch']})", metrics["splits"]))


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="Run directory of a finished (or at least once validated) run."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set to evaluate on (default: the run's own)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Root of the data set's copy on disk."),
    split: list[str] = typer.Option([], "--split", help="Split(s) to evaluate (default: the test splits)."),
    option: list[str] = typer.Option([], "--option", help="Data set protocol option KEY=VALUE (repeatable)."),
    model_option: list[str] = typer.Option([], "--model-option", help="Test-time model setting KEY=VALUE, "
                                           "threshold (T) or sigma, without retraining (repeatable)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Evaluate a run's selected weights; writes predictions and metrics under <run>/evaluations/."""
    from oadn.engine.checkpoint_eval import evaluate_run
    from oadn.runs import load_config

    options: dict[str, Any] = {}
    model_overrides: dict[str, Any] = {}
    try:
        for text in option:
            options.update(parse_override(text))
        for text in model_option:
            model_overrides.update(parse_override(text))
        own = load_config(run).data
        cache = _cache_dir(data or own.name, options if data else own.options, cache_dir)
        results = evaluate_run(
            run, dataset=data, root=root, splits=split or None, options=options, progress=progress,
            split_options={"cache_dir": str(cache)} if cache else None, model_overrides=model_overrides,
        )
    except ConfigError as error:
        _fail(str(error), code=2)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        _fail(str(error))
    console.print(_metrics_table(f"{run} on {data or 'its own data'}", results))


@app.command()
def models() -> None:
    """List the registered methods and backbones."""
    from oadn.models import list_models
    from oadn.models.backbones import list_backbones

    console.print("methods:   " + ", ".join(list_models()))
    console.print("backbones: " + ", ".join(list_backbones()))


if __name__ == "__main__":
    app()
