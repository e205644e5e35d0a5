"""``oadn-bench datasets``: list the registered data sets and check a user's copy against its protocol."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from oadn.data.index import CheckReport
from oadn.data.registry import get_dataset, list_datasets

app = typer.Typer(help="Data sets: what is registered, and whether your copy can serve its protocol.", no_args_is_help=True)
#: wide enough for an 8-class counts table when output goes to a file or a pipe (rich defaults to 80 there)
console = Console(width=None if Console().is_terminal else 160)


def _options(adapter_cls: type) -> list[str]:
    """Constructor keyword options of an adapter class (its protocol options)."""
    parameters = inspect.signature(adapter_cls.__init__).parameters.values()
    return [p.name for p in parameters if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD]


@app.command("list")
def list_command() -> None:
    """Every registered data set and subset with its protocol."""
    table = Table(title="Registered data sets")
    for column in ("name", "classes", "splits", "protocol (default options)", "options"):
        table.add_column(column)
    for name in list_datasets():
        try:
            adapter = get_dataset(name)
        except ValueError as error:  # e.g. the user-list subset, which has no default list
            table.add_row(name, "", "", escape(f"needs options: {error}"), "")
            continue
        options = ", ".join(_options(type(adapter)))
        if hasattr(adapter, "parent_family"):
            options += f", and {adapter.parent_family}'s options"
        table.add_row(name, str(len(adapter.classes)), "/".join(adapter.splits), escape(adapter.protocol), options)
    console.print(table)


def _counts_table(report: CheckReport) -> Table:
    table = Table(title=f"{report.dataset}: usable images at {report.root}")
    table.add_column("split")
    for column in report.counts.columns:
        table.add_column(str(column), justify="right", no_wrap=True, min_width=len(str(column)))
    for split, row in report.counts.iterrows():
        table.add_row(str(split), *(str(int(v)) for v in row))
    return table


def _print_problems(report: CheckReport, limit: int | None) -> None:
    shown = report.problems if limit is None else report.problems[:limit]
    console.print(f"problems ({len(shown)} of {len(report.problems)} shown):")
    for p in shown:
        console.print(f"[red]{p}[/]" if p.severity == "error" else str(p), markup=p.severity == "error",
                      highlight=False, soft_wrap=True)


@app.command("check")
def check_command(
    name: str = typer.Argument(..., help="registered data set name (see `datasets list`)"),
    root: Path = typer.Option(..., "--root", help="your copy of the data set"),
    verify_images: bool = typer.Option(True, "--verify-images/--no-verify-images",
                                       help="decode every image (else only test that each file exists)"),
    label_mode: Optional[str] = typer.Option(None, help="FERPlus: majority|plurality|probability|crossentropy"),
    protocol: Optional[str] = typer.Option(None, help="FERPlus: official|ran"),
    num_classes: Optional[int] = typer.Option(None, help="AffectNet: 7|8"),
    images: Optional[str] = typer.Option(None, help="RAF-DB: aligned|original"),
    list_path: Optional[Path] = typer.Option(None, "--list", help="subsets: your own list file"),
    parent: Optional[str] = typer.Option(None, help="`subset`: the parent data set"),
    ran_lists: Optional[Path] = typer.Option(None, help="subsets: directory holding the RAN lists"),
    show_all: bool = typer.Option(False, "--show-all", help="print every problem (default: the first 50)"),
) -> None:
    """Counts per split and class, and every problem with file and line; exit code 1 when not usable."""
    given: dict[str, Any] = {"label_mode": label_mode, "protocol": protocol, "num_classes": num_classes,
                             "images": images, "list_path": list_path, "parent": parent, "ran_lists": ran_lists}
    options = {k: v for k, v in given.items() if v is not None}
    try:
        adapter = get_dataset(name, **options)
    except (KeyError, ValueError, TypeError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    if not hasattr(adapter, "check"):
        console.print(f"{name} needs no copy on disk: nothing to check")
        return
    with Progress(TextColumn("checking images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("images", total=None)
        report = adapter.check(root, verify_images=verify_images,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(_counts_table(report))
    if report.problems:
        _print_problems(report, None if show_all else 50)
    errors = sum(p.severity == "error" for p in report.problems)
    warnings = len(report.problems) - errors
    verdict = "[green]OK[/]" if report.ok else "[red]NOT USABLE[/]"
    console.print(f"{verdict}: {name} at {root}: {int(report.counts['total'].sum())} usable images, "
                  f"{errors} error(s), {warnings} warning(s)")
    if not report.ok:
        raise typer.Exit(1)
