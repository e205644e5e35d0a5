"""render_ablation_report: an ablation's ablation.csv/.json -> the Fig. 7-style plot, ablation.md, index.html."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from oadn.common.files import read_checked, read_json
from oadn.report import html
from oadn.report.figure_names import figure_name
from oadn.report.output import staged
from oadn.report.plots import plot_ablation

#: what ``ablate`` writes and the report is rendered from (kept when the report is rendered again)
ABLATION_INPUTS = ("ablation.csv", "ablation.json")
#: files every ablation report writes (``ablate`` checks them before training)
ABLATION_OUTPUTS = ("ablation.md", "index.html")
COLUMNS = ["param", "value", "kind", "seed", "column", "count", "accuracy", "mean_class_accuracy", "status", "run_dir"]
KIND_TEXT = {
    "retrained": "retrained: one model trained per value",
    "at-test": "at-test: one trained model scored at each value",
}


def load_ablation_results(report_dir: Path) -> tuple[pd.DataFrame, dict]:
    """ablation.csv (values numeric when every value is a number) and ablation.json; errors name the file."""
    path, info_path = Path(report_dir) / "ablation.csv", Path(report_dir) / "ablation.json"
    for needed in (path, info_path):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed}: missing (is {report_dir} an ablation report directory?)")
    advice = "run the ablation again (`oadn-bench ablate ...`): it writes the file again and reuses every finished run"
    table = read_checked(path, lambda p: pd.read_csv(p, keep_default_na=False, dtype={"value": str, "status": str,
                                                                                      "kind": str, "column": str}),
                         advice)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    numeric = pd.to_numeric(table["value"], errors="coerce")
    if numeric.notna().all():
        table["value"] = numeric
    for column in ("accuracy", "mean_class_accuracy"):
        done = table["status"] == "finished"
        values = pd.to_numeric(table.loc[done, column], errors="coerce")
        bad = values.isna() | (values < 0) | (values > 1)
        if bad.any():
            line = int(bad[bad].index[0]) + 2
            raise ValueError(f"{path}, line {line}: {column} should be a fraction in 0..1 for a finished point")
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table, read_json(info_path, advice)


def ablation_points(table: pd.DataFrame) -> pd.DataFrame:
    """Long table (kind, column, value, metric, mean, std, seeds) in percent over finished seeds."""
    done = table[table["status"] == "finished"]
    long = done.melt(
        id_vars=["kind", "column", "value", "seed"],
        value_vars=["accuracy", "mean_class_accuracy"],
        var_name="metric",
        value_name="fraction",
    )
    long["pct"] = 100 * long["fraction"]
    grouped = long.groupby(["kind", "column", "value", "metric"], sort=False)["pct"]
    return grouped.agg(mean="mean", std="std", seeds="count").reset_index()


def ablation_table(points: pd.DataFrame) -> pd.DataFrame:
    """Value x ("<kind> <test set>", metric) table of "mean ± std (n seeds)" strings."""
    cells = points.assign(
        cell=[
            f"{m:.2f}" + ("" if pd.isna(s) else f" ± {s:.2f}") + f" (n={n})"
            for m, s, n in zip(points["mean"], points["std"], points["seeds"])
        ],
        group=points["kind"] + " " + points["column"],
        label=points["metric"].map({"accuracy": "acc %", "mean_class_accuracy": "mean-class acc %"}),
    )
    table = cells.pivot_table(index="value", columns=["group", "label"], values="cell", aggfunc="first", sort=False)
    order = [(g, m) for g in dict.fromkeys(cells["group"]) for m in ("acc %", "mean-class acc %")]
    table = table[[c for c in order if c in table.columns]].fillna("-")
    table.columns.names = [None, None]
    return table


def render_ablation_report(report_dir: Path) -> Path:
    """Re-render an ablation's report from ablation.csv and ablation.json; never trains."""
    report_dir = Path(report_dir)
    table, info = load_ablation_results(report_dir)
    param = info.get("param") or str(table["param"].iloc[0])
    points = ablation_points(table)
    kinds = list(dict.fromkeys(table["kind"]))
    title = f"{param} on {info.get('dataset', '?')}\n" + "\n".join(KIND_TEXT.get(k, k) for k in kinds)
    notes = [
        info.get("description", ""),
        "acc = overall accuracy; mean-class acc = mean of per-class recalls; mean ± sample std over seeds.",
        f"Paper's chosen value: {info['paper_value']}." if info.get("paper_value") is not None else "",
        f"Ablation wall time: {info['wall_seconds']:.0f} s." if "wall_seconds" in info else "",
    ]
    notes = [n for n in notes if n]
    missing = [
        f"{param}={r.value} ({r.kind}) seed {r.seed} on {r.column}: {r.status}"
        for r in table[table["status"] != "finished"].itertuples()
    ]
    table = ablation_table(points) if len(points) else pd.DataFrame()
    heading = title.replace("\n", "; ").replace("; ", ": ", 1)
    with staged(report_dir, keep=ABLATION_INPUTS) as out:
        figure = None
        if len(points):
            figure = plot_ablation(points, param, info.get("paper_value"), title, out / figure_name("ablation", param))
        flat = table.set_axis([f"{g} {m}" for g, m in table.columns], axis=1).reset_index() if len(table) else None
        markdown = [f"# {heading}", "", flat.to_markdown(index=False) if len(table) else "(no finished point yet)", ""]
        markdown += (["Missing:", ""] + [f"- {m}" for m in missing] + [""]) if missing else []
        markdown += [f"- {n}" for n in notes]
        (out / "ablation.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
        body = ['<p><a href="ablation.md">ablation.md</a> · <a href="ablation.csv">ablation.csv</a></p>']
        body += [html.image(figure, heading, wide=True)] if figure else []
        body += [html.table(table, index=True)] if len(table) else []
        body += [f"<p>Missing:</p>{html.bullets(missing)}"] if missing else []
        body += [html.bullets(notes)]
        html.write_page(out / "index.html", heading, body)
    html.refresh_reports_index(report_dir.parent)
    return report_dir / "index.html"
