"""One progress bar style for every long loop (training, evaluation, preparation, checks)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from oadn.common.console import bars_shown


@contextmanager
def progress_bar(enabled: bool | None = None) -> Iterator[Progress]:
    """A rich Progress; with ``enabled=False`` it is created disabled so callers need no branches; None follows the
    running command's ``--progress`` flag (:func:`oadn.common.console.show_progress`)."""
    if enabled is None:
        enabled = bars_shown()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        disable=not enabled,
    )
    with progress:
        yield progress


def epoch_line(row: dict, epochs: int) -> str:
    """One line per finished epoch, for runs without progress bars (logs, batch jobs)."""
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['loss']:.4f}", f"lr {row['lr']:.3g}"]
    if "val_accuracy" in row:
        parts += [
            f"val acc {100 * row['val_accuracy']:.2f}%",
            f"val mean-class acc {100 * row['val_mean_class_accuracy']:.2f}%",
        ]
    parts.append(f"{row['seconds']:.1f} s")
    return "  ".join(parts)
