"""``oadn-bench report SUITE|DIR``: re-render reports from what runs left on disk; never trains."""

from __future__ import annotations

from pathlib import Path

import typer

from oadn.common.console import console, guarded


def _kind(folder: Path) -> str | None:
    if (folder / "manifest.csv").is_file():
        return "suite"
    if (folder / "ablation.csv").is_file():
        return "ablation"
    return None


@guarded
def report_command(
    target: str = typer.Argument(
        ..., help="A report folder (holding manifest.csv or ablation.csv), a suite or ablation name under "
        "--reports-root, or a folder of reports (renders each)."
    ),
    reports_root: Path = typer.Option(Path("reports"), help="Where named reports live."),
    show: bool = typer.Option(True, "--print/--no-print", help="Print each report's Markdown tables."),
) -> None:
    """Render a suite's or an ablation's report (tables, figures, index.html) from its results on disk."""
    from oadn.report import render_ablation_report, render_suite_report

    folder = Path(target)
    if not folder.is_dir():
        folder = reports_root / target
    if not folder.is_dir():
        raise FileNotFoundError(f"no report folder {target!r} (nor {folder}); run the suite first")
    folders = [folder] if _kind(folder) else sorted(p for p in folder.iterdir() if p.is_dir() and _kind(p))
    if not folders:
        raise FileNotFoundError(f"{folder} holds no manifest.csv or ablation.csv (nor do its sub-folders)")
    for report in folders:
        render = render_suite_report if _kind(report) == "suite" else render_ablation_report
        index = render(report)
        if show:
            typer.echo((report / ("results.md" if _kind(report) == "suite" else "ablation.md")).read_text())
        console.print(f"{_kind(report)} report written to {index}")
