"""The leaderboard rendered from its records: ``leaderboard.md``, ``leaderboard.csv`` and a sortable, self-contained
``index.html``, with the paper's published rows of the same data sets marked as published.

The published rows are the printed accuracies of the OADN paper on the test sets of the records' data sets (for
FERPlus its Occlusion- and Pose-FERPlus lists); they were not scored on a protocol grid, so their robustness
columns stay empty: they stand beside ours as the paper's reference, not as entries of the same protocol.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from oadn.report import html
from oadn.report.leaderboard import record_name
from oadn.report.output import staged
from oadn.report.published import load_published

#: the data sets whose name the paper's published keys carry (a record's base data set)
FAMILIES = ("ferplus", "rafdb", "affectnet", "fedro")
OUTPUTS = ("leaderboard.md", "leaderboard.csv", "index.html")
#: the table's columns: what a row is, then its score (so that a page narrower than the table shows it), then the rest
COLUMNS = ("Method", "Pre-training", "Backbone", "Data set", "Protocol", "mOE % (vs GAP)", "mOE 95% CI",
           "mOE per seed", "Clean acc %", "Occluded acc %", "Relative robustness %", "Published acc %", "Seeds",
           "Faces", "Source", "Record")

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, column) {
    th.title = 'sort by this column'; th.style.cursor = 'pointer';
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var ascending = th.getAttribute('data-order') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-order'); });
      th.setAttribute('data-order', ascending ? 'asc' : 'desc');
      function key(row) {
        var text = row.cells[column].getAttribute('data-sort') || row.cells[column].textContent.trim();
        var number = parseFloat(text);
        return text === '-' || text === '' ? null : (isNaN(number) ? text.toLowerCase() : number);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
        if (typeof x !== typeof y) { return typeof x === 'number' ? -1 : 1; }
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""
EXTRA_STYLE = """
th[data-order=asc]::after { content: ' \\25B2'; } th[data-order=desc]::after { content: ' \\25BC'; }
tr.published td { font-style: italic; color: #666; background: #fafafa; }
"""


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or value != value else f"{100 * value:.{digits}f}"


def leaderboard_table(records: list[dict[str, Any]], published: pd.DataFrame | None = None) -> pd.DataFrame:
    """One display row per record (best mOE first, then records without one), then the published rows."""
    rows = []
    for record in records:
        ci = record.get("moe_ci")
        rows.append({
            "Method": record["method"], "Pre-training": record["pretraining"], "Backbone": record["backbone"],
            "Data set": f"{record['dataset']} {record['split']}", "Protocol": record["protocol"], "Source": "ours",
            "Seeds": len(record["seeds"]), "Faces": record["faces"],
            "Clean acc %": _pct(record["clean_accuracy"]), "Occluded acc %": _pct(record["occluded_accuracy"]),
            "Relative robustness %": _pct(record["relative_robustness"], 1),
            "mOE % (vs GAP)": "-" if record["moe"] is None else f"{record['moe']:.1f}",
            "mOE 95% CI": "-" if ci is None else f"[{ci[0]:.1f}, {ci[1]:.1f}]",
            "mOE per seed": "-" if record["moe_per_seed"] is None else
            " / ".join(f"{v:.1f}" for v in record["moe_per_seed"]),
            "Published acc %": "-", "Record": record_name(record),
            "_order": (record["moe"] is None, record["moe"] or 0.0),
        })
    rows.sort(key=lambda row: row.pop("_order"))
    families = {r["dataset"] for r in records if r["dataset"] in FAMILIES}
    if published is not None and families:
        keep = published[published["published_key"].map(lambda k: any(f in k for f in families))]
        for row in keep.itertuples():
            rows.append({
                "Method": f"{row.method} (published)", "Pre-training": row.pretraining, "Backbone": "-",
                "Data set": row.protocol, "Protocol": f"paper, {row.table}", "Source": "published", "Seeds": "-",
                "Faces": "-", "Clean acc %": "-", "Occluded acc %": "-", "Relative robustness %": "-",
                "mOE % (vs GAP)": "-", "mOE 95% CI": "-", "mOE per seed": "-",
                "Published acc %": f"{row.accuracy:.2f}", "Record": row.source,
            })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def per_kind_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Relative robustness (%) per occluder kind: the kind's mean accuracy over its severities / clean accuracy;
    records in the main table's order (best mOE first)."""
    rows = []
    for record in sorted(records, key=lambda r: (r["moe"] is None, r["moe"] or 0.0)):  # the main table's order
        row = {"Method": record["method"], "Pre-training": record["pretraining"], "Data set": record["dataset"],
               "Protocol": record["protocol"]}
        row.update({kind: _pct(values["relative"], 1) for kind, values in record["per_kind"].items()})
        rows.append(row)
    return pd.DataFrame(rows).fillna("-")


def _sortable(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.itertuples(index=False):
        css = ' class="published"' if getattr(row, "Source", "") == "published" else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>")
    return (f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


NOTES = [
    "Protocol occlusion-grid: the clean test split, every painted occluder kind at 10, 20, 30, 40 and 50% of the "
    "face, and the two misleading swaps (another class's mouth or eyes), every face occluded, occluder seed 0; "
    "landmark scores as the run's own backend gives them on the clean face (occlusion-grid-oracle: points under "
    "the occluder score 0).",
    "Relative robustness = mean over the occluded cells of accuracy / clean accuracy.",
    "mOE = 100 x mean over kinds of (sum over severities of the error) / (the same sum for the GAP baseline "
    "trained the same way: same backbone, pre-training, data and training settings, test faces and protocol); "
    "100 = as robust as the baseline, lower is better. Errors are means over seeds.",
    "95% CI: percentile bootstrap over test faces (the same resampled faces for every cell, seed and the "
    "baseline; 2,000 resamples). mOE per seed: each seed's errors against the baseline's seed mean.",
    "Published rows (italic) are the OADN paper's printed accuracies on the same data sets' test lists; they were "
    "not scored on the protocol and carry no robustness figures.",
]


def render_leaderboard(records: list[dict[str, Any]], out: Path) -> Path:
    """Write the records and the pages into ``out`` (a folder this tool owns; see :mod:`oadn.report.output`)."""
    table = leaderboard_table(records, load_published())
    kinds = per_kind_table(records)
    with staged(out) as folder:
        for record in records:
            path = folder / "records" / record_name(record)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        table.to_csv(folder / "leaderboard.csv", index=False)
        markdown = ["# Occlusion-robustness leaderboard", "", table.to_markdown(index=False), "",
                    "## Relative robustness per occluder kind (%)", "", kinds.to_markdown(index=False), "",
                    "Notes:", "", *[f"- {note}" for note in NOTES], ""]
        (folder / "leaderboard.md").write_text("\n".join(markdown), encoding="utf-8")
        body = [f"<style>{EXTRA_STYLE}</style>", "<p>Click a column header to sort.</p>", _sortable(table),
                "<h2>Relative robustness per occluder kind (%)</h2>", _sortable(kinds), "<h2>Notes</h2>",
                html.bullets(NOTES), f"<script>{SORT_SCRIPT}</script>"]
        html.write_page(folder / "index.html", "Occlusion-robustness leaderboard", body)
    html.refresh_reports_index(Path(out).parent)  # listed beside the suite reports when they share a root
    return out / "index.html"
