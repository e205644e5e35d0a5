"""Report figures: confusion matrices as FER papers print them, per-test-set bar charts, reliability diagrams,
all-pairs test matrices, ablation curves.

Each function takes numbers and writes one PNG; nothing here computes a statistic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from oadn.common.files import naming_a_full_disk  # noqa: E402


def _save(fig, path: Path) -> Path:
    try:
        with naming_a_full_disk(path.parent, path.name):
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _save_heatmap(fig, ax, labels: tuple[str, str], title: str, path: Path) -> Path:
    """A heat map's axis labels, title and slanted column labels, then the file."""
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    plt.setp(ax.get_yticklabels(), rotation=0)
    return _save(fig, path)


def plot_confusion_matrix(
    matrix: np.ndarray,
    classes: Sequence[str],
    title: str,
    path: Path,
    predicted_classes: Sequence[str] | None = None,
) -> Path:
    """Save a row-normalised confusion matrix (true class per row) as a PNG and return its path.

    ``predicted_classes`` names the columns when they differ from the rows (cross-data-set scoring without
    restriction: a prediction can fall on a class the test set does not have).
    """
    matrix = np.asarray(matrix, dtype=float)
    predicted = list(predicted_classes or classes)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    fig, ax = plt.subplots(figsize=(2.5 + 0.75 * len(predicted), 1.0 + 0.75 * len(classes)))
    sns.heatmap(
        100 * normalised,
        annot=True,
        fmt=".1f",
        cmap="Blues",
        vmin=0,
        vmax=100,
        square=True,
        xticklabels=[c if c in classes else f"{c}\n(not scored)" for c in predicted],
        yticklabels=classes,
        cbar_kws={"label": "% of true class"},
        ax=ax,
    )
    return _save_heatmap(fig, ax, ("predicted", "true"), title, path)


def plot_method_bars(rows: pd.DataFrame, references: pd.DataFrame, title: str, path: Path) -> Path:
    """Overall and mean-class accuracy of each method on one test set with 95% intervals as error bars.

    ``rows``: method, accuracy_pct, accuracy_ci_low_pct, accuracy_ci_high_pct and the mean_class_* columns.
    ``references``: label, accuracy_pct of published rows drawn as dashed lines (e.g. published OADN).
    """
    methods = list(rows["method"])
    x = np.arange(len(methods))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(methods) + 2.5), 4.2))
    series = (
        ("overall accuracy", "accuracy_pct", "accuracy_ci", "tab:blue"),
        ("mean-class accuracy", "mean_class_accuracy_pct", "mean_class_ci", "tab:orange"),
    )
    low_values = []
    for offset, (label, column, ci, colour) in zip((-width / 2, width / 2), series):
        values = rows[column].to_numpy(dtype=float)
        errors = np.vstack([values - rows[f"{ci}_low_pct"], rows[f"{ci}_high_pct"] - values])
        bars = ax.bar(x + offset, values, width, yerr=errors, capsize=4, label=label, color=colour)
        ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=8, label_type="center", color="white")
        low_values.extend(rows[f"{ci}_low_pct"].dropna())
    for i, reference in enumerate(references.itertuples()):
        ax.axhline(reference.accuracy_pct, linestyle="--", color=f"C{i + 2}", linewidth=1.2,
                   label=f"published {reference.label}: {reference.accuracy_pct:.2f}")  # fmt: skip
        low_values.append(reference.accuracy_pct)
    bottom = max(0.0, 10 * np.floor((min(low_values, default=10) - 10) / 10))
    ax.set_ylim(bottom, 100)
    rotate = len(methods) > 3 or max(map(len, methods), default=0) > 12
    ax.set_xticks(x, methods, rotation=25 if rotate else 0, ha="right" if rotate else "center")
    ax.set_ylabel("accuracy % (95% bootstrap CI)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=2, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_ablation(points: pd.DataFrame, param: str, paper_value, title: str, path: Path) -> Path:
    """Accuracy against a swept value, one panel per test set, overall and mean-class, error bars over seeds.

    ``points``: kind, column, value, metric, mean, std (percent). Numeric values share a numeric axis; other
    values (backbone names) are categories in their swept order.
    """
    columns = list(dict.fromkeys(points["column"]))
    kinds = list(dict.fromkeys(points["kind"]))
    values = list(dict.fromkeys(points["value"]))
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in values)
    position = (lambda v: float(v)) if numeric else (lambda v: values.index(v))
    fig, axes = plt.subplots(
        1, len(columns), figsize=(5.0 * len(columns) + 2.0, 4.8), squeeze=False, sharey=True, layout="constrained"
    )
    styles = {"accuracy": "-", "mean_class_accuracy": ":"}
    markers = {"retrained": "o", "at-test": "s"}
    for ax, column in zip(axes[0], columns):
        for k, kind in enumerate(kinds):
            for metric, style in styles.items():
                part = points[(points["column"] == column) & (points["kind"] == kind) & (points["metric"] == metric)]
                if part.empty:
                    continue
                order = sorted(part.itertuples(), key=lambda r: position(r.value))
                ax.errorbar(
                    [position(r.value) for r in order], [r.mean for r in order],
                    yerr=[0 if np.isnan(r.std) else r.std for r in order], capsize=3, linestyle=style,
                    marker=markers.get(kind, "^"), color=f"C{k}",
                    label=f"{kind}: {'overall' if metric == 'accuracy' else 'mean-class'}",
                )  # fmt: skip
        marked = isinstance(paper_value, (int, float)) if numeric else paper_value in values
        if paper_value is not None and marked:
            ax.axvline(position(paper_value), color="grey", linestyle="--", linewidth=1)
            ax.annotate(f"paper: {paper_value}", (position(paper_value), 0.0), xycoords=("data", "axes fraction"),
                        xytext=(3, 4), textcoords="offset points", fontsize=8, color="dimgrey")  # fmt: skip
        if not numeric:
            ax.set_xticks(range(len(values)), [str(v) for v in values], rotation=20, ha="right")
        ax.set_title(column)
        ax.set_xlabel(param)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy % (mean ± std over seeds)")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title)
    return _save(fig, path)


def plot_reliability(bins: pd.DataFrame, title: str, path: Path) -> Path:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per method, with the
    diagonal a calibrated method would follow; marker area grows with the bin's share of images."""
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="calibrated")
    filled = bins[bins["images"] > 0]
    filled = filled.assign(share=filled["images"] / filled.groupby("method")["images"].transform("sum"))
    sns.lineplot(data=filled, x="confidence", y="accuracy", hue="method", marker="o", sort=True, ax=ax)
    sns.scatterplot(data=filled, x="confidence", y="accuracy", hue="method", size="share", sizes=(10, 200),
                    legend=False, ax=ax)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence in bin (top-label probability)")
    ax.set_ylabel("accuracy in bin")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def plot_pairs_matrix(delta: pd.DataFrame, p_holm: pd.DataFrame, title: str, path: Path) -> Path:
    """All-pairs heat map: row minus column accuracy (pp, diverging colours), each cell annotated with it and
    the Holm-adjusted McNemar p-value (bold star when p < 0.05)."""
    annotations = delta.copy().astype(object)
    for row in delta.index:
        for column in delta.columns:
            d, p = delta.loc[row, column], p_holm.loc[row, column]
            annotations.loc[row, column] = "" if row == column or np.isnan(d) else (
                f"{d:+.1f}\np={p:.2g}{' *' if p < 0.05 else ''}")
    size = len(delta)
    fig, ax = plt.subplots(figsize=(2.0 + 1.3 * size, 1.2 + 1.0 * size))
    bound = max(float(np.nanmax(np.abs(delta.to_numpy()))), 0.5) if np.isfinite(delta.to_numpy()).any() else 1.0
    sns.heatmap(delta.astype(float), annot=annotations.to_numpy(), fmt="", cmap="RdBu", vmin=-bound, vmax=bound,
                square=True, cbar_kws={"label": "row − column accuracy (pp)"}, ax=ax, annot_kws={"fontsize": 8})
    return _save_heatmap(fig, ax, ("", ""), title, path)
