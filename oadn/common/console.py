"""The console commands print to, and the one way a command stops with a named error."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console()


def fail(problem: str | BaseException, code: int = 1) -> NoReturn:
    """Print a named error and exit: 2 for a usage error (a bad option or configuration value), else 1. An
    exception's own message is printed (a KeyError's without the quotes ``str`` would add)."""
    message = problem.args[0] if isinstance(problem, KeyError) and problem.args else str(problem)
    console.print(f"[bold red]error:[/] {escape(str(message))}", soft_wrap=True)
    raise typer.Exit(code=code)


def log(text: str) -> None:
    """A line of a command's report, printed as it is (no markup, no highlighting, wrapped only by the terminal)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)
