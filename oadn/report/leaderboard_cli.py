"""``oadn-bench leaderboard``: every run scored on a robustness protocol under some roots, in one table."""

from __future__ import annotations

from pathlib import Path

import typer

from oadn.common.console import guarded, log, show_progress
from oadn.common.errors import UsageError
from oadn.common.plugins import PLUGIN_HELP, load_plugins


@guarded
def leaderboard_command(
    roots: list[Path] = typer.Argument(None, help="Runs roots or reports roots to collect from (default: runs/ and "
                                       "reports/, those that exist)."),
    out: Path = typer.Option(Path("reports/leaderboard"), "--out", help="Folder for the records (records/*.json), "
                             "leaderboard.md, leaderboard.csv and index.html."),
    show: bool = typer.Option(True, "--print/--no-print", help="Print the Markdown table."),
    progress: bool = typer.Option(True, callback=show_progress, help="Show progress bars."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP + " Needed to read the runs of a plugin's "
                                     "method."),
) -> None:
    """Collect every run scored with `evaluate --protocol` into one record per (method, pre-training, data set,
    protocol), score each against its GAP baseline (mOE with a 95% interval), and render the leaderboard."""
    load_plugins(plugin)
    from oadn.common.progress import progress_bar
    from oadn.report.leaderboard import build_records, find_scored_runs, group_runs
    from oadn.report.leaderboard_page import render_leaderboard

    roots = list(roots or [p for p in (Path("runs"), Path("reports")) if p.is_dir()])
    if not roots:
        raise UsageError("no runs/ or reports/ folder here; name the roots to collect from")
    skipped: list[str] = []
    groups = group_runs(find_scored_runs(roots, skipped))
    for line in skipped:
        log(f"left out: {line}")
    if not groups:
        raise FileNotFoundError(f"no run scored on a protocol under {', '.join(map(str, roots))}; score one with: "
                                "oadn-bench evaluate RUN --protocol occlusion-grid")
    with progress_bar(progress) as bar:
        task = bar.add_task("leaderboard records", total=len(groups), info="")
        records = build_records(groups, on_record=lambda: bar.advance(task))
    index = render_leaderboard(records, out)
    if show:
        typer.echo((out / "leaderboard.md").read_text())
    log(f"{len(records)} record(s) from {sum(len(g.runs) for g in groups)} run(s); leaderboard written to {index}")
