"""The console commands print to, and the one failure policy every command runs under.

A command's failure is one of three things: a usage error (an option or configuration value that is unknown, of
the wrong type or out of range: exit 2, the key named), a known failure (a file missing or damaged, data that
cannot serve, a run that diverged: exit 1, one line naming the file or cause), or a bug (anything else: its
traceback, untouched). :func:`guarded` applies that to a command; the command line wraps every command with it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NoReturn, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape

from oadn.common.errors import KNOWN_FAILURES, exit_code

console = Console()
#: whether a bar that no caller hands a flag to is drawn (a store built on first use, deep in the data layer)
_bars_shown = True

#: what click itself handles: usage errors it formats, ``typer.Exit`` (a RuntimeError), Ctrl-C
_CLICK_OWN = (click.exceptions.Exit, click.exceptions.Abort, click.ClickException)
F = TypeVar("F", bound=Callable[..., Any])


def fail(problem: str | BaseException, code: int = 1) -> NoReturn:
    """Print a named error and exit: 2 for a usage error (a bad option or configuration value), else 1. An
    exception's own message is printed (a KeyError's without the quotes ``str`` would add)."""
    message = problem.args[0] if isinstance(problem, KeyError) and problem.args else str(problem)
    console.print(f"[bold red]error:[/] {escape(str(message))}", soft_wrap=True)
    raise typer.Exit(code=code)


def guarded(command: F) -> F:
    """``command`` under the failure policy: a known failure (:data:`KNOWN_FAILURES`) ends in one named line with
    its exit status (:func:`exit_code`); click's own exits pass through; anything else keeps its traceback."""
    if getattr(command, "guarded", False):
        return command

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except _CLICK_OWN:
            raise
        except KNOWN_FAILURES as error:
            fail(error, exit_code(error))

    run.guarded = True  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


def show_progress(enabled: bool) -> bool:
    """The callback of every command's ``--progress/--no-progress``: bars drawn where the command's flag is not
    passed down follow it too."""
    global _bars_shown
    _bars_shown = enabled
    return enabled


def bars_shown() -> bool:
    """The running command's ``--progress`` flag (True outside a command)."""
    return _bars_shown


def log(text: str) -> None:
    """A line of a command's report, printed as it is (no markup, no highlighting, wrapped only by the terminal)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)
