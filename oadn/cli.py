"""The ``oadn-bench`` command line: one Typer app; each command group's CLI lives with its package.

Every command runs under the one failure policy (:func:`oadn.common.console.guarded`: each command is decorated
where it is defined, and every command registered here is wrapped again, so one added later cannot miss it), and
the command modules import their machinery inside the commands: ``--help`` and ``--version`` load no torch.
"""

from __future__ import annotations

import warnings

import typer
from rich.markup import escape

from oadn import __version__
from oadn.common.console import console, guarded
from oadn.data.cli import app as datasets_app
from oadn.engine.cli import bench_command, evaluate_command, train_command
from oadn.engine.predict_cli import predict_command
from oadn.experiments.cli import ablate_command, migrate_command, run_command
from oadn.models.cli import models_command
from oadn.preprocess.cli import fit_visibility_command, pack_command, prepare_command, show_landmarks_command
from oadn.report.cli import report_command
from oadn.report.leaderboard_cli import leaderboard_command

HELP = "Occlusion-robust facial expression recognition: OADN and baselines, benchmarks and ablations."
app = typer.Typer(help=HELP, no_args_is_help=True, pretty_exceptions_enable=False)
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
app.command("migrate")(migrate_command)


def command_infos(typer_app: typer.Typer = app) -> list[typer.models.CommandInfo]:
    """Every command registered on ``typer_app`` and its command groups."""
    infos = list(typer_app.registered_commands)
    for group in typer_app.registered_groups:
        infos += command_infos(group.typer_instance)
    return infos


for _info in command_infos():
    _info.callback = guarded(_info.callback)


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
