"""Self-contained HTML pages (figures embedded as base64) and the reports index linking every report."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1400px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
.scroll { overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; text-align: center; }
td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 640px; height: auto; }
figure.wide img { max-width: 100%; }
table.index td { text-align: left; }
figcaption { font-size: 0.85em; color: #555; }
.notes li { font-size: 0.9em; }
"""


def escape(text: object) -> str:
    return html.escape(str(text))


def image(path: Path, caption: str, *, wide: bool = False) -> str:
    """An <img> with the PNG inlined, so the page travels as one file; ``wide`` lets it take the page width."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    css = ' class="wide"' if wide else ""
    return (
        f'<figure{css}><img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def table(frame: pd.DataFrame, *, index: bool = False) -> str:
    return '<div class="scroll">' + frame.to_html(index=index, border=0, na_rep="-", escape=True) + "</div>"


def paper_table(table: pd.DataFrame, source_column: str = "Source") -> str:
    """A paper-style table (rows indexed by method, pre-training, source) with the published rows in italics."""
    flat = table.reset_index()
    published = (flat[source_column] == "published").to_numpy().ravel()
    styler = flat.style.hide(axis="index").apply(
        lambda column: ["font-style: italic; color: #555" if p else "" for p in published], axis=0
    )
    # a Styler escapes nothing by default: method names (cells) and test-set names (headers) are the user's
    styler = styler.format(escape="html", na_rep="-").format_index(escape="html", axis=1)
    return '<div class="scroll">' + styler.to_html() + "</div>"


def bullets(items: list[str]) -> str:
    return '<ul class="notes">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>" if items else ""


def write_page(path: Path, title: str, body: list[str]) -> Path:
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{''.join(body)}"
        '<p><a href="../index.html">all reports</a></p></body></html>'
    )
    path.write_text(page, encoding="utf-8")
    return path


def _describe(report: Path) -> tuple[str, str]:
    for name, kind in (("suite.json", "suite"), ("ablation.json", "ablation")):
        if (report / name).is_file():
            info = json.loads((report / name).read_text())
            return kind, info.get("description") or info.get("name") or info.get("param", "")
    return "report", ""


#: marks the reports index as this tool's: an ``index.html`` without it is the user's and is left alone
INDEX_GENERATOR = '<meta name="generator" content="oadn-bench reports index">'


def refresh_reports_index(reports_root: Path) -> Path | None:
    """``<reports_root>/index.html`` linking every rendered report (a sub-folder with an index.html); None, and
    nothing written, when an ``index.html`` there is not one this tool wrote."""
    path = Path(reports_root) / "index.html"
    head = path.read_text(encoding="utf-8", errors="replace")[:2000] if path.is_file() else INDEX_GENERATOR
    if INDEX_GENERATOR not in head and "<title>oadn-bench reports</title>" not in head:  # (the latter: older ones)
        return None
    rows = []
    for report in sorted(p for p in Path(reports_root).iterdir() if (p / "index.html").is_file()):
        kind, description = _describe(report)
        rows.append(
            f'<tr><td><a href="{escape(report.name)}/index.html">{escape(report.name)}</a></td>'
            f"<td>{kind}</td><td>{escape(description)}</td></tr>"
        )
    header = '<table class="index"><tr><th>report</th><th>kind</th><th>description</th></tr>'
    body = header + "".join(rows) + "</table>"
    page = (
        f'<!doctype html><html><head><meta charset="utf-8">{INDEX_GENERATOR}<title>oadn-bench reports</title>'
        f"<style>{STYLE}</style></head><body><h1>oadn-bench reports</h1>{body}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
