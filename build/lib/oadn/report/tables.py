"""Result tables: a long table of every (method, seed, split, branch) figure, and the paper-style summary.

Overall accuracy and mean class accuracy are always reported side by side and labelled, because FER papers
report one or the other and comparisons across them are meaningless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd


def collect_results(runs: Iterable[tuple[str, int, Path, dict[str, Any]]]) -> pd.DataFrame:
    """Long table from (method, seed, run_dir, metrics) tuples: one row per split and branch."""
    rows = []
    for method, seed, run_dir, metrics in runs:
        for split, branches in metrics["splits"].items():
            for branch, values in branches.items():
                rows.append(
                    {
                        "method": method,
                        "seed": seed,
                        "split": split,
                        "branch": branch,
                        "count": values["count"],
                        "accuracy": values["accuracy"],
                        "mean_class_accuracy": values["mean_class_accuracy"],
                        "run_dir": str(run_dir),
                    }
                )
    return pd.DataFrame(rows)


def _cell(values: pd.Series) -> str:
    mean = 100 * values.mean()
    if len(values) > 1:
        return f"{mean:.2f} ± {100 * values.std(ddof=1):.2f}"
    return f"{mean:.2f}"


def summary_table(results: pd.DataFrame, splits: list[str], branch: str = "prediction") -> pd.DataFrame:
    """Method x (split, metric) table of percentages, mean ± std over seeds; the method order is kept."""
    chosen = results[(results["branch"] == branch) & (results["split"].isin(splits))]
    methods = list(dict.fromkeys(chosen["method"]))
    table = pd.DataFrame(index=pd.Index(methods, name="method"))
    for split in splits:
        part = chosen[chosen["split"] == split]
        count = part["count"].iloc[0] if len(part) else 0
        for metric, label in (("accuracy", "acc"), ("mean_class_accuracy", "mean-class acc")):
            column = f"{split} (n={count}) {label} %"
            table[column] = [_cell(part.loc[part["method"] == m, metric]) for m in methods]
    return table


def render_markdown(table: pd.DataFrame, title: str, notes: list[str]) -> str:
    body = table.reset_index().to_markdown(index=False)
    lines = [f"# {title}", "", body, ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
