"""The ``oadn-bench`` command line: train, evaluate, run suites, inspect data sets and prepare caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from oadn.config import build_config, parse_override
from oadn.data.cli import app as datasets_app
from oadn.preprocess.cli import prepare_command, show_landmarks_command
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
app.command("fit-visibility")(fit_visibility_command)

SET_HELP = "Override a configuration value, e.g. --set train.lr=0.01 (repeatable)."


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=1)


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
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the interrupted run in this directory."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Train one model; selects weights on validation data, then evaluates the test splits once."""
    from oadn.engine.train import TrainingDiverged, train_run

    try:
        if resume is not None:
            if config or overrides:
                _fail("--resume takes the configuration saved in the run directory; drop --config/--set")
            target = resume
            metrics = train_run(None, resume, resume=True, progress=progress)
        else:
            run_config = build_config(config, overrides)
            target = run_dir or Path("runs") / run_config.name
            metrics = train_run(run_config, target, progress=progress)
    except (TrainingDiverged, FileExistsError, FileNotFoundError, KeyError, ValueError) as error:
        _fail(str(error))
    console.print(_metrics_table(f"{target} (selected epoch {metrics['selected_epoch']})", metrics["splits"]))


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="Run directory of a finished (or at least once validated) run."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set to evaluate on (default: the run's own)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Root of the data set's copy on disk."),
    split: list[str] = typer.Option([], "--split", help="Split(s) to evaluate (default: the test splits)."),
    option: list[str] = typer.Option([], "--option", help="Data set protocol option KEY=VALUE (repeatable)."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Evaluate a run's selected weights; writes predictions and metrics under <run>/evaluations/."""
    from oadn.engine.checkpoint_eval import evaluate_run

    options: dict[str, Any] = {}
    for text in option:
        options.update(parse_override(text))
    try:
        results = evaluate_run(run, dataset=data, root=root, splits=split or None, options=options, progress=progress)
    except (FileNotFoundError, KeyError, ValueError) as error:
        _fail(str(error))
    console.print(_metrics_table(f"{run} on {data or 'its own data'}", results))


@app.command()
def run(
    suite: str = typer.Option(..., "--suite", help="Built-in suite name (e.g. demo) or a suite YAML file."),
    runs_root: Path = typer.Option(Path("runs"), help="Where run directories go."),
    report_dir: Optional[Path] = typer.Option(None, help="Where the report goes (default reports/<suite>)."),
    overrides: list[str] = typer.Option([], "--set", "-s", help=SET_HELP + " Applied to every run."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Run a benchmark suite: train every method and seed (finished runs are reused), then write the report."""
    from oadn.engine.train import TrainingDiverged
    from oadn.suite import load_suite, run_suite

    try:
        spec = load_suite(suite)
        target = report_dir or Path("reports") / spec.name
        table = run_suite(spec, runs_root, target, overrides=overrides, progress=progress, log=console.print)
    except (TrainingDiverged, FileNotFoundError, KeyError, ValueError) as error:
        _fail(str(error))
    typer.echo(table.to_markdown())
    console.print(f"report written to {target}/results.md")


@app.command()
def models() -> None:
    """List the registered methods and backbones."""
    from oadn.models import list_models
    from oadn.models.backbones import list_backbones

    console.print("methods:   " + ", ".join(list_models()))
    console.print("backbones: " + ", ".join(list_backbones()))


if __name__ == "__main__":
    app()
