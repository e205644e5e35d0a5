"""``oadn-bench datasets``: list the registered data sets and check a user's copy against its protocol."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from oadn.common.console import guarded, show_progress
from oadn.common.plugins import PLUGIN_HELP, load_plugins
from oadn.config import parse_options
from oadn.data.registry import get_dataset, list_datasets, open_dataset, option_names

if TYPE_CHECKING:
    from oadn.data.on_disk import CheckReport, Problem

app = typer.Typer(help="Data sets: what is registered, and whether your copy can serve its protocol.",
                  no_args_is_help=True)
#: wide enough for an 8-class counts table when output goes to a file or a pipe (rich defaults to 80 there)
console = Console(width=None if Console().is_terminal else 160)
#: the one way protocol options are given, on every command that opens a data set by name
OPTION_HELP = "Data set protocol option KEY=VALUE, e.g. -o label_mode=majority (repeatable; see `datasets list`)."


@app.command("list")
@guarded
def list_command(
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Every registered data set and subset with its protocol."""
    load_plugins(plugin)
    table = Table(title="Registered data sets")
    for column in ("name", "classes", "splits", "protocol (default options)", "options"):
        table.add_column(column)
    for name in list_datasets():
        try:
            adapter = get_dataset(name)
        except ValueError as error:  # e.g. the user-list subset, which has no default list
            table.add_row(name, "", "", escape(f"needs options: {error}"), "")
            continue
        options = ", ".join(option_names(name)[0])
        if adapter.options_of:
            options += f", and {adapter.options_of}'s options"
        table.add_row(name, str(len(adapter.classes)), "/".join(adapter.splits), escape(adapter.protocol), options)
    console.print(table)
    from oadn.data.score_modes.base import SCORE_MODES

    console.print("score modes (occluded scores=MODE):")
    for mode in SCORE_MODES.names():
        console.print(f"  {mode}: {SCORE_MODES.get(mode).summary}", markup=False, highlight=False, soft_wrap=True)


def _counts_table(report: CheckReport) -> Table:
    table = Table(title=f"{report.dataset}: usable images at {report.root}")
    table.add_column("split")
    for column in report.counts.columns:
        table.add_column(str(column), justify="right", no_wrap=True, min_width=len(str(column)))
    for split, row in report.counts.iterrows():
        table.add_row(str(split), *(str(int(v)) for v in row))
    return table


def _print_errors(report: CheckReport, limit: int | None) -> None:
    errors = [p for p in report.problems if p.severity == "error"]
    shown = errors if limit is None else errors[:limit]
    if errors:
        console.print(f"errors ({len(shown)} of {len(errors)} shown):")
    for p in shown:
        console.print(f"[red]{escape(str(p))}[/]", highlight=False, soft_wrap=True)


def _print_warning_summary(report: CheckReport, examples: int = 3) -> None:
    """One line per kind of warning with its count, and a few examples of each."""
    groups: dict[str, list[Problem]] = {}
    for p in report.problems:
        if p.severity != "error":
            groups.setdefault(p.group, []).append(p)
    if groups:
        console.print("warnings by kind:")
    for kind, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        console.print(f"  {len(members)} x {kind}", markup=False, highlight=False, soft_wrap=True)
        for p in members[:examples]:
            console.print(f"      e.g. {p}", markup=False, highlight=False, soft_wrap=True)


def write_problems(report: CheckReport, path: Path) -> Path:
    """Every problem of ``report``, one per line, to ``path`` (errors first)."""
    ordered = sorted(report.problems, key=lambda p: p.severity != "error")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{p}\n" for p in ordered), encoding="utf-8")
    return path


@app.command("check")
@guarded
def check_command(
    name: str = typer.Argument(..., help="registered data set name (see `datasets list`)"),
    root: Path = typer.Option(..., "--root", help="your copy of the data set"),
    verify_images: bool = typer.Option(True, "--verify-images/--no-verify-images",
                                       help="decode every image (else only test that each file exists)"),
    option: list[str] = typer.Option([], "--option", "-o", help=OPTION_HELP),
    show_all: bool = typer.Option(False, "--show-all", help="print every error (default: the first 50)"),
    problems_file: Optional[Path] = typer.Option(None, "--problems-file", help="where to write the full list of "
                                                 "problems (default: $OADN_CACHE/checks/NAME-problems.txt)"),
    progress: bool = typer.Option(True, callback=show_progress,
                                  help="Show a progress bar while images are checked (on a terminal)."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Counts per split and class, and every problem with file and line; exit code 1 when not usable."""
    load_plugins(plugin)
    adapter = open_dataset(name, parse_options(option, "--option", "label_mode=majority"))
    if not adapter.checkable:
        console.print(f"{name} is not a copy on disk of its own: nothing to check"
                      + (f" (check {adapter.options_of})" if adapter.options_of else ""))
        return
    with Progress(TextColumn("checking images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not (progress and console.is_terminal)) as bar:
        task = bar.add_task("images", total=None)
        report = adapter.at_root(root).check(root, verify_images=verify_images,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(_counts_table(report))
    _print_errors(report, None if show_all else 50)
    _print_warning_summary(report)
    if report.problems:
        from oadn.data.prepared.cache import cache_root

        target = problems_file or cache_root() / "checks" / f"{name}-problems.txt"
        try:
            console.print(f"full list of {len(report.problems)} problem(s): {write_problems(report, target)}",
                          markup=False, highlight=False, soft_wrap=True)
        except OSError as error:  # the verdict is about the data, not about where the list could go
            console.print(f"[yellow]warning:[/] cannot write the problem list to {escape(str(target))}: "
                          f"{escape(str(error))}; pass --problems-file")
    errors = sum(p.severity == "error" for p in report.problems)
    warnings = len(report.problems) - errors
    verdict = "[green]OK[/]" if report.ok else "[red]NOT USABLE[/]"
    console.print(f"{verdict}: {name} at {root}: {int(report.counts['total'].sum())} usable images, "
                  f"{errors} error(s), {warnings} warning(s)")
    if not report.ok:
        raise typer.Exit(1)
