"""render_suite_report: a suite's manifest and predictions -> results.md/.tex/.csv, figures, index.html."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from oadn.common.files import read_json
from oadn.report import html
from oadn.report.endpoints import Endpoint, donor_rates, endpoint_rows, kept_points
from oadn.report.figure_names import figure_name, slug
from oadn.report.manifest import load_manifest
from oadn.report.metrics import METRICS
from oadn.report.output import staged
from oadn.report.plots import plot_confusion_matrix, plot_method_bars, plot_pairs_matrix, plot_reliability
from oadn.report.published import load_published
from oadn.report.qualitative import column_selection, plot_disagreements, read_thumbnails, thumbnail_name
from oadn.report.stats import CALIBRATION_BINS, EXACT_BELOW
from oadn.report.suite_tables import (
    details_table,
    flat_columns,
    main_table,
    matrix_seed,
    pairs_matrix,
    per_class_table,
    to_latex,
)
from oadn.report.summary import OURS, PUBLISHED, SuiteSummary, reference_method, scoring_text, summarise_suite

RESAMPLES = 2000


def _notes(manifest: pd.DataFrame, info: dict, resamples: int) -> list[str]:
    notes = list(info.get("notes", []))
    notes += [
        "acc = overall accuracy (share of test images classified right); mean-class acc = mean of the per-class "
        "recalls. Both in %.",
        "Our rows: mean ± sample std over the seeds that finished (Seeds column).",
        f"95% CI: percentile bootstrap over test images ({resamples} resamples, seeded); with several seeds every "
        "resample keeps the same images for each seed and takes the mean over seeds.",
    ]
    if (manifest["published_key"] != "").any():
        notes += [
            "Published rows are the paper's printed overall accuracy (Ding, Zhou, Chellappa 2020), with the "
            "pre-training the paper states (vggface2: face-recognition pre-trained; imagenet: the paper's own OADN "
            "setting; own: the cited method's own setting, listed beside the ImageNet rows); the paper prints no "
            "mean-class accuracy.",
            "Δ acc pp: our mean overall accuracy minus the published OADN of the same pre-training (else "
            "ImageNet) on that test set, in percentage points.",
        ]
    if reference_method(list(dict.fromkeys(manifest["method"]))):
        notes.append(
            f"McNemar vs our OADN: paired on the same test images, on the first seed both methods share (every "
            f"seed pair is in mcnemar.csv); exact binomial test when discordant pairs < {EXACT_BELOW}, else "
            "chi-square with continuity correction (χ² cc); b/c = images only this method / only OADN got right."
        )
    notes += [
        "; ".join(metric.note for metric in METRICS) + "; each from the per-image scores, over the scored classes "
        "(renormalised), mean ± std over seeds. Reliability diagrams pool the seeds' images (reliability.csv).",
        "All pairs: McNemar between every two of our methods on the images both scored, per seed, Holm-corrected "
        "over the pairs of one test set and seed (every seed in mcnemar_all_pairs.csv; the matrix shows the "
        "lowest seed every method has); the main table's p-column stays against our OADN, uncorrected.",
    ]
    for row in manifest[manifest["status"] == "finished"].drop_duplicates(["experiment", "column"]).itertuples():
        how = scoring_text(row.classes, row.scored_classes, row.restricted)
        notes.append(f"{row.column} ({row.experiment}): scored on {how} ({', '.join(row.scored_classes)}).")
    if "wall_seconds" in info:
        notes.append(f"Suite wall time: {info['wall_seconds']:.0f} s; runs: {info.get('summary', {})}.")
    return notes


def _missing_lines(summary: SuiteSummary, experiment: str) -> list[str]:
    return [
        f"{m['method']} on {m['column']}, seed {m['seed']}: {m['status']}"
        + (f" ({m['reason']})" if m["reason"] and m["reason"] != m["status"] else "")
        for m in summary.missing
        if m["experiment"] == experiment
    ]


def _figures(summary: SuiteSummary, experiment: str, figures: Path) -> list[tuple[Path, str]]:
    """Bar chart per test set, then confusion matrices (summed over seeds) per test set and method."""
    results = summary.results
    out = []
    rows = results[(results["experiment"] == experiment)]
    for column in dict.fromkeys(rows["column"]):
        ours = rows[(rows["column"] == column) & (rows["source"] == OURS) & (rows["seeds"] > 0)]
        if ours.empty:
            continue
        published = rows[(rows["column"] == column) & (rows["source"] == PUBLISHED) & (rows["method"] == "OADN")]
        references = pd.DataFrame(
            {"label": "OADN (" + published["pretraining"] + ")", "accuracy_pct": published["accuracy_pct"]}
        )
        title = f"{column}: n={int(ours['images'].iloc[0])} images"
        path = plot_method_bars(ours, references, title, figures / figure_name("bars", experiment, column))
        out.append((path, f"{experiment} / {column}: accuracy with 95% bootstrap CI"))
        out += _calibration_and_pairs_figures(summary, experiment, column, figures)
    for (exp, column, method), (matrix, classes, predicted) in summary.confusions.items():
        if exp != experiment:
            continue
        seeds = int(rows.loc[(rows["column"] == column) & (rows["method"] == method), "seeds"].max())
        accuracy = 100 * matrix[:, : len(classes)].trace() / matrix.sum()
        title = f"{method} on {column}\nacc {accuracy:.1f}% ({seeds} seed{'s' if seeds > 1 else ''} summed)"
        name = figure_name("confusion", experiment, column, method)
        path = plot_confusion_matrix(matrix, classes, title, figures / name, predicted_classes=predicted)
        out.append((path, f"{method} on {column}: row-normalised confusion matrix"))
    return out


def _calibration_and_pairs_figures(summary: SuiteSummary, experiment: str, column: str,
                                   figures: Path) -> list[tuple[Path, str]]:
    """The test set's reliability diagram (every method, seeds pooled) and its all-pairs McNemar matrix."""
    out = []
    bins = summary.reliability
    if len(bins):
        bins = bins[(bins["experiment"] == experiment) & (bins["column"] == column)]
    if len(bins):
        path = plot_reliability(bins, f"{column}: reliability ({CALIBRATION_BINS} bins, seeds pooled)",
                                figures / figure_name("reliability", experiment, column))
        out.append((path, f"{experiment} / {column}: reliability diagram"))
    seed = matrix_seed(summary.pairwise, experiment, column)
    if seed is not None:
        pairs = summary.pairwise
        pairs = pairs[(pairs["experiment"] == experiment) & (pairs["column"] == column) & (pairs["seed"] == seed)]
        methods = list(dict.fromkeys([*pairs["method"], *pairs["versus"]]))
        delta = pd.DataFrame(float("nan"), index=methods, columns=methods)
        p_holm = delta.copy()
        for r in pairs.itertuples():
            difference = r.accuracy_method_pct - r.accuracy_versus_pct
            delta.loc[r.method, r.versus], delta.loc[r.versus, r.method] = difference, -difference
            p_holm.loc[r.method, r.versus] = p_holm.loc[r.versus, r.method] = r.p_holm
        path = plot_pairs_matrix(delta, p_holm, f"{column}: McNemar, all pairs (Holm), seed {seed}",
                                 figures / figure_name("pairs", experiment, column))
        out.append((path, f"{experiment} / {column}: all-pairs McNemar, Holm-adjusted p"))
    return out


def _disagreement_figures(manifest: pd.DataFrame, report_dir: Path, experiment: str,
                          figures: Path) -> list[tuple[Path, str]]:
    """Per test set with kept faces: where our OADN and each compared method disagree (the paper's Fig. 8)."""
    out = []
    for column in dict.fromkeys(manifest.loc[manifest["experiment"] == experiment, "column"]):
        faces = report_dir / thumbnail_name(experiment, column)
        selection = column_selection(manifest, report_dir, experiment, column) if faces.is_file() else None
        if selection is None:
            continue
        path = plot_disagreements(selection, read_thumbnails(faces), figures / figure_name("disagreements",
                                                                                            experiment, column))
        if path is not None:
            out.append((path, f"{experiment} / {column}: faces where OADN and another method disagree, both ways "
                              f"(seed {selection.seed})"))
    return out


def _pairs_sections(summary: SuiteSummary, experiment: str) -> list[tuple[str, pd.DataFrame]]:
    """(test set, all-pairs matrix) for every test set of the experiment with two or more of our methods."""
    if not len(summary.pairwise):
        return []
    columns = summary.pairwise.loc[summary.pairwise["experiment"] == experiment, "column"]
    return [(column, pairs_matrix(summary.pairwise, experiment, column)) for column in dict.fromkeys(columns)]


def _experiment_section(
    summary: SuiteSummary, manifest: pd.DataFrame, experiment: str, figures_dir: Path, report_dir: Path
) -> tuple[list[str], str, list[str]]:
    """Markdown lines, LaTeX table and HTML parts of one experiment (one paper table)."""
    rows = manifest[manifest["experiment"] == experiment]
    head = rows.iloc[0]
    title = head["experiment_title"] or experiment
    heading = f"{head['table']}: {title}" if head["table"] else title
    table = main_table(summary.results, experiment)
    details = details_table(summary.results, experiment, reference_method(list(dict.fromkeys(rows["method"]))))
    per_class = per_class_table(summary.per_class, experiment)
    missing = _missing_lines(summary, experiment)
    markdown = [f"## {heading}", "", flat_columns(table).to_markdown(index=False), ""]
    markdown += [details.to_markdown(index=False), ""]
    markdown += (["Missing:", ""] + [f"- {line}" for line in missing] + [""]) if missing else []
    pairs = _pairs_sections(summary, experiment)
    for column, matrix in pairs:
        markdown += [f"All pairs on {column}: row minus column accuracy and McNemar p, Holm-adjusted over the pairs:",
                     "", matrix.to_markdown(), ""]
    if len(per_class):
        markdown += ["Per-class accuracy (%), mean over seeds:", "", per_class.to_markdown(index=False), ""]
    latex = to_latex(main_table(summary.results, experiment, latex=True), heading, f"tab:{slug(experiment)}")
    figures = _figures(summary, experiment, figures_dir)
    body = [f"<h2>{html.escape(heading)}</h2>", html.paper_table(table), html.table(details)]
    body += [f"<p>Missing:</p>{html.bullets(missing)}"] if missing else []
    body += [html.image(path, caption) for path, caption in figures if path.name.startswith("bars_")]
    for column, matrix in pairs:
        body += [f"<h3>All pairs on {html.escape(column)} (McNemar, Holm-adjusted p)</h3>",
                 html.table(matrix, index=True)]
    body += [html.image(path, caption) for path, caption in figures
             if path.name.startswith(("reliability_", "pairs_"))]
    if len(per_class):
        body += ["<h3>Per-class accuracy (%), mean over seeds</h3>", html.table(per_class)]
    body += [html.image(path, caption) for path, caption in figures if path.name.startswith("confusion_")]
    for path, caption in _disagreement_figures(manifest, report_dir, experiment, figures_dir):
        markdown += [f"{caption}: figures/{path.name}", ""]
        body += [f"<h3>{html.escape(caption)}</h3>", html.image(path, caption, wide=True)]
    return markdown, latex, body


def endpoint_display(rows: pd.DataFrame) -> pd.DataFrame:
    """The endpoints table as printed: contrast, pooled points with the interval, seeds, verdict."""
    out = []
    for row in rows.to_dict("records"):
        found = row.get("seeds", 0) > 0
        out.append({
            "endpoint": row["endpoint"] + (" (primary)" if row["primary"] else ""), "experiment": row["experiment"],
            "method": row["method"], "branch": row["branch"], "contrast": f"{row['column']} − {row['against']}",
            "points [95% CI]": f"{row['points']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]" if found else "-",
            "per seed": row.get("per_seed", "") if found else "-",
            "seed std": f"{row['seed_std']:.2f}" if found and pd.notna(row.get("seed_std")) else "-",
            "positive seeds": f"{row['positive_seeds']}/{row['seeds']}" if found else "-",
            "faces": int(row["faces"]) if found else 0, "bar": f"+{row['bar_points']:g}",
            "verdict": row["verdict"],
        })
    return pd.DataFrame(out)


def _endpoint_parts(endpoints: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Markdown and HTML of the pre-registered endpoints (none when the suite states none)."""
    if not len(endpoints):
        return [], []
    shown = endpoint_display(endpoints)
    rule = ("met = the pooled contrast reaches the bar, its 95% interval (faces resampled, the same faces for every "
            "seed, mean over seeds) lies above 0, and most seeds are positive")
    markdown = ["## Pre-registered endpoints", "", shown.to_markdown(index=False), "", rule + ".", ""]
    return markdown, ["<h2>Pre-registered endpoints</h2>", html.table(shown), f"<p>{html.escape(rule)}.</p>"]


def _analysis_parts(donors: pd.DataFrame, kept: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Markdown and HTML of the donor-class rates and the interest points kept (where the columns carry them)."""
    markdown, body = [], []
    if len(donors):
        title = "Donor-class rate (%): swapped faces predicted as the donor's class, mean over seeds"
        markdown += [f"## {title}", "", donors.to_markdown(index=False, floatfmt=".2f"), ""]
        body += [f"<h2>{html.escape(title)}</h2>", html.table(donors.round(2))]
    if len(kept):
        title = "Interest points kept per face (mean of 24; % of faces keeping all and none)"
        markdown += [f"## {title}", "", kept.to_markdown(index=False, floatfmt=".2f"), ""]
        body += [f"<h2>{html.escape(title)}</h2>", html.table(kept.round(2))]
    return markdown, body


#: what ``run`` writes and the report is rendered from (kept when the report is rendered again)
SUITE_INPUTS = ("manifest.csv", "suite.json")
#: files every suite report writes (``run`` checks them before training)
SUITE_OUTPUTS = ("results.md", "results.tex", "results.csv", "results_by_seed.csv", "per_class.csv", "mcnemar.csv",
                 "mcnemar_all_pairs.csv", "reliability.csv", "endpoints.csv", "donor_rates.csv", "kept_points.csv",
                 "index.html")


def render_suite_report(report_dir: Path, *, resamples: int = RESAMPLES) -> Path:
    """Re-render a suite's report from manifest.csv, suite.json and the predictions they name; never trains.
    Written into a temporary folder and moved into place (see :mod:`oadn.report.output`)."""
    report_dir = Path(report_dir)
    manifest = load_manifest(report_dir)
    info_path = report_dir / "suite.json"
    advice = "run the suite again (`oadn-bench run --suite ...`): it writes it again and reuses every finished run"
    info = read_json(info_path, advice) if info_path.is_file() else {}
    summary = summarise_suite(manifest, report_dir, load_published(), resamples=resamples)
    kept_faces = tuple(sorted(p.relative_to(report_dir).as_posix() for p in (report_dir / "faces").glob("*.npz")))
    with staged(report_dir, keep=SUITE_INPUTS + kept_faces) as out:
        summary.results.to_csv(out / "results.csv", index=False)
        summary.per_seed.to_csv(out / "results_by_seed.csv", index=False)
        summary.per_class.to_csv(out / "per_class.csv", index=False)
        summary.mcnemar.to_csv(out / "mcnemar.csv", index=False)
        summary.pairwise.to_csv(out / "mcnemar_all_pairs.csv", index=False)
        summary.reliability.to_csv(out / "reliability.csv", index=False)
        experiments = list(dict.fromkeys(manifest["experiment"]))
        endpoints = endpoint_rows([Endpoint(**e) for e in info.get("endpoints", [])], summary.scored, experiments,
                                  resamples)
        donors, kept = donor_rates(summary.scored), kept_points(summary.scored)
        for frame, name in ((endpoints, "endpoints.csv"), (donors, "donor_rates.csv"), (kept, "kept_points.csv")):
            frame.to_csv(out / name, index=False)
        title = info.get("description") or info.get("name") or str(manifest["suite"].iloc[0])
        notes = _notes(manifest, info, resamples)
        endpoint_markdown, endpoint_body = _endpoint_parts(endpoints)
        markdown, latex, body = [f"# {title}", "", *endpoint_markdown], [], list(endpoint_body)
        for experiment in experiments:
            section_markdown, section_latex, section_body = _experiment_section(summary, manifest, experiment,
                                                                                out / "figures", report_dir)
            markdown += section_markdown
            latex.append(section_latex)
            body += section_body
        analysis_markdown, analysis_body = _analysis_parts(donors, kept)
        markdown += analysis_markdown
        body += analysis_body
        markdown += ["Notes:", ""] + [f"- {note}" for note in notes]
        (out / "results.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
        (out / "results.tex").write_text("% needs \\usepackage{booktabs}\n" + "\n".join(latex), encoding="utf-8")
        files = SUITE_OUTPUTS[:-1]
        links = " · ".join(f'<a href="{name}">{name}</a>' for name in files)
        html.write_page(out / "index.html", title, [f"<p>{links}</p>"] + body + ["<h2>Notes</h2>", html.bullets(notes)])
    html.refresh_reports_index(report_dir.parent)
    return report_dir / "index.html"
