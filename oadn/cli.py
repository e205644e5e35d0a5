"""The ``oadn-bench`` command line: one Typer app; each command group's commands live with their package."""

from __future__ import annotations

import warnings

import typer
from rich.markup import escape

from oadn import __version__
from oadn.common.console import console
from oadn.data.cli import app as datasets_app
from oadn.engine.cli import bench_command, evaluate_command, train_command
from oadn.engine.predict_cli import predict_command
from oadn.experiments.cli import ablate_command, run_command
from oadn.models.cli import models_command
from oadn.preprocess.cli import fit_visibility_command, pack_command, prepare_command, show_landmarks_command
from oadn.report.cli import report_command
from oadn.report.leaderboard_cli import leaderboard_command

app = typer.Typer(
    help="Occlusion-robust facial expression recognition: OADN and baselines, benchmarks and ablations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets_app, name="datasets")
app.command("prepare")(prepare_command)
app.command("show-landmarks")(show_landmarks_command)
app.command("run")(run_command)
app.command("ablate")(ablate_command)
app.command("report")(report_command)
app.command("leaderboard")(leaderboard_command)
app.command("pack")(pack_command)
app.command("bench")(bench_command)
app.command("fit-visibility")(fit_visibility_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
app.command("models")(models_command)


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


if __name__ == "__main__":
    app()
