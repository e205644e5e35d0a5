"""Formatting a suite summary as the paper's tables: Markdown, LaTeX (booktabs via pandas' Styler) and HTML.

Rows are methods (the paper's published rows first, in the paper's order, then ours); columns are the test
sets of the experiment, each with overall accuracy and mean-class accuracy, and our delta to published OADN.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from oadn.report.metrics import METRICS
from oadn.report.summary import OURS, PUBLISHED

ACC, MCA, DELTA = "acc %", "mean-class acc %", "Δ acc pp"
SAME = "Δ vs its published pp"  # our row minus the published row of the same method
LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "Δ": r"$\Delta$", "±": r"$\pm$", "²": r"$^2$",
}  # fmt: skip
ROW_KEYS = ["Method", "Pre-training", "Source"]
LATEX_PM = "$\\pm$"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _mean_std(mean, std, latex: bool, digits: int = 2) -> str:
    if _missing(mean):
        return "-"
    if _missing(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} {LATEX_PM if latex else '±'} {std:.{digits}f}"


def _test_set_header(rows: pd.DataFrame, column: str) -> str:
    images = rows.loc[(rows["source"] == OURS) & (rows["column"] == column), "images"].dropna().unique()
    return f"{column} (n={int(images[0])})" if len(images) == 1 else column


def latex_text(text: object) -> str:
    """Plain text made safe for LaTeX (method and test-set names such as "Pose>30-FERPlus" or "acc %")."""
    return re.sub(r"[\\&%$#_{}~^<>Δ±²]", lambda m: LATEX_ESCAPES[m.group()], str(text))


def main_table(results: pd.DataFrame, experiment: str, *, latex: bool = False) -> pd.DataFrame:
    """Method x (test set, metric) strings for one experiment; "-" where a figure is missing or unpublished.

    Our rows of a method the paper prints (same registered model, e.g. RAN) sit right under that published row,
    labelled "RAN (published)" and "RAN (ours)", with the difference in the SAME column. With ``latex`` every
    cell and label is LaTeX (escaped names, $\\pm$), ready for Styler.to_latex.
    """
    rows = results[results["experiment"] == experiment]
    text = latex_text if latex else str
    headers = {c: _test_set_header(rows, c) for c in dict.fromkeys(rows["column"])}
    metrics = [ACC, MCA] + ([DELTA] if (rows["published_key"] != "").any() else [])
    links = _links(rows)
    metrics += [SAME] if links else []
    shown = [m for m in METRICS if m.column in rows and rows[m.column].notna().any()]
    metrics += [m.header for m in shown]
    linked_published = set(links.values())
    cells: dict[tuple, dict[tuple, str]] = {}
    for source in (PUBLISHED, OURS):
        for r in rows[rows["source"] == source].itertuples():
            name = r.method
            if (source == PUBLISHED and (r.method, r.pretraining) in linked_published) or (
                    source == OURS and (r.method, r.pretraining) in links):
                name = f"{r.method} ({source})"
            key = (text(name), text(r.pretraining), source)
            row = cells.setdefault(key, {(text(h), text(m)): "-" for h in headers.values() for m in metrics})
            header = text(headers[r.column])
            if source == PUBLISHED:
                row[(header, text(ACC))] = f"{r.accuracy_pct:.2f}"
                row[(header, text(DELTA))] = ""
                if links:
                    row[(header, text(SAME))] = ""
                continue
            row[(header, text(ACC))] = _mean_std(r.accuracy_pct, getattr(r, "accuracy_std_pct", None), latex)
            row[(header, text(MCA))] = _mean_std(
                getattr(r, "mean_class_accuracy_pct", None), getattr(r, "mean_class_accuracy_std_pct", None), latex
            )
            for metric in shown:
                row[(header, text(metric.header))] = _mean_std(getattr(r, metric.column),
                                                               getattr(r, metric.std_column), latex, metric.digits)
            delta = getattr(r, "delta_vs_published_oadn_pp", None)
            if DELTA in metrics:
                row[(header, text(DELTA))] = "-" if _missing(delta) else f"{delta:+.2f}"
            same = getattr(r, "delta_vs_published_same_pp", None)
            if links:
                row[(header, text(SAME))] = "-" if _missing(same) else f"{same:+.2f}"
    order = _linked_order(list(cells), {(text(m), text(p)): (text(pm), text(pp)) for (m, p), (pm, pp)
                                         in links.items()})
    table = pd.DataFrame.from_dict({key: cells[key] for key in order}, orient="index")
    table.index = pd.MultiIndex.from_tuples(order, names=ROW_KEYS)
    table.columns = pd.MultiIndex.from_tuples(list(table.columns))
    return table


def _links(rows: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str]]:
    """(our method, pre-training) -> (published method, pre-training) it retrains, on any test set."""
    if "published_method" not in rows:
        return {}
    ours = rows[(rows["source"] == OURS) & rows["published_method"].notna() & (rows["published_method"] != "")]
    return {(r.method, r.pretraining): (r.published_method, r.published_pretraining) for r in ours.itertuples()}


def _linked_order(keys: list[tuple], links: dict[tuple, tuple]) -> list[tuple]:
    """Published rows in the paper's order, each followed by our rows linked to it; then our other rows."""
    def bare(label: str, source: str) -> str:
        return label.removesuffix(f" ({source})")

    published = [k for k in keys if k[2] == PUBLISHED]
    ours = [k for k in keys if k[2] == OURS]
    order = []
    for key in published:
        order.append(key)
        order += [o for o in ours if links.get((bare(o[0], OURS), o[1])) == (bare(key[0], PUBLISHED), key[1])]
    return order + [o for o in ours if o not in order]


def _interval(low, high) -> str:
    return "-" if _missing(low) else f"[{low:.2f}, {high:.2f}]"


def _mcnemar_cell(r, reference: str | None) -> str:
    if r.method == reference:
        return "reference"
    p = getattr(r, "mcnemar_p", None)
    if _missing(p):
        return "-"
    test = "exact" if r.mcnemar_test == "exact binomial" else "χ² cc"
    return f"p={p:.3g} ({test}, seed {int(r.mcnemar_seed)}, {int(r.mcnemar_only_method)}/{int(r.mcnemar_only_oadn)})"


def details_table(results: pd.DataFrame, experiment: str, reference: str | None) -> pd.DataFrame:
    """Our rows, one per (test set, method): seeds, images, 95% intervals, delta and McNemar p against our OADN
    (the means are in the main table)."""
    rows = results[(results["experiment"] == experiment) & (results["source"] == OURS)]
    out = []
    for r in rows.itertuples():
        value = r._asdict().get
        delta = value("delta_vs_published_oadn_pp")
        out.append({
            "Test set": r.column,
            "Method": r.method,
            "Seeds": int(r.seeds),
            "Images": "-" if _missing(value("images")) else int(r.images),
            "acc 95% CI": _interval(value("accuracy_ci_low_pct"), value("accuracy_ci_high_pct")),
            "mean-class 95% CI": _interval(value("mean_class_ci_low_pct"), value("mean_class_ci_high_pct")),
            "Δ acc vs published": "-" if _missing(delta) else f"{delta:+.2f} vs {r.delta_reference}",
            f"McNemar vs {reference or 'OADN'}": _mcnemar_cell(r, reference),
        })  # fmt: skip
    table = pd.DataFrame(out)
    if not (rows["published_key"] != "").any():
        table = table.drop(columns="Δ acc vs published", errors="ignore")
    return table if reference else table.drop(columns=f"McNemar vs {reference or 'OADN'}", errors="ignore")


def per_class_table(per_class: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """Per-class accuracy (%) per test set and method, mean over seeds; blank for a class not scored."""
    if per_class.empty:
        return pd.DataFrame()
    rows = per_class[per_class["experiment"] == experiment]
    fixed = ["suite", "experiment", "experiment_title", "table", "column", "published_key", "method", "seeds"]
    classes = [c for c in rows.columns if c not in fixed and rows[c].notna().any()]
    table = rows[["column", "method", *classes]].rename(columns={"column": "Test set", "method": "Method"})
    return table.round(2).astype(object).fillna("")


def to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table from a ``main_table(..., latex=True)``: row labels as columns, test sets as multicolumns."""
    flat = table.reset_index()
    return flat.style.hide(axis="index").to_latex(
        hrules=True, caption=latex_text(caption), label=label, position="htbp", multicol_align="c",
        environment="table", column_format="lll" + "r" * (flat.shape[1] - 3),
    )  # fmt: skip


def flat_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Markdown and CSV need one header row: "<test set> <metric>"."""
    flat = table.copy()
    flat.columns = [f"{test_set} {metric}" for test_set, metric in table.columns]
    return flat.reset_index()


def matrix_seed(pairwise: pd.DataFrame, experiment: str, column: str) -> int | None:
    """The seed an all-pairs matrix shows: the lowest one with the most method pairs (every method, when they
    share one)."""
    rows = pairwise[(pairwise["experiment"] == experiment) & (pairwise["column"] == column)] if len(pairwise) else []
    if not len(rows):
        return None
    counts = rows.groupby("seed").size()
    return int(counts[counts == counts.max()].index.min())


def pairs_matrix(pairwise: pd.DataFrame, experiment: str, column: str) -> pd.DataFrame:
    """Method x method: row minus column accuracy (pp) and the Holm-adjusted McNemar p, at :func:`matrix_seed`."""
    seed = matrix_seed(pairwise, experiment, column)
    if seed is None:
        return pd.DataFrame()
    rows = pairwise[(pairwise["experiment"] == experiment) & (pairwise["column"] == column)
                    & (pairwise["seed"] == seed)]
    methods = list(dict.fromkeys([*rows["method"], *rows["versus"]]))
    cells = pd.DataFrame("-", index=pd.Index(methods, name=f"row vs column (seed {seed})"), columns=methods)
    for r in rows.itertuples():
        delta = r.accuracy_method_pct - r.accuracy_versus_pct
        cells.loc[r.method, r.versus] = f"{delta:+.2f} pp, p={r.p_holm:.3g}"
        cells.loc[r.versus, r.method] = f"{-delta:+.2f} pp, p={r.p_holm:.3g}"
    for method in methods:
        cells.loc[method, method] = ""
    return cells
