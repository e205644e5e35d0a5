"""The adaptivity and robustness suites' analysis, as pre-registered in their suite files: what the report cannot say.

The report (``oadn-bench run``) gives every column's accuracy with intervals and McNemar against OADN. This
script adds what a suite cannot express: differences between two COLUMNS of the same run (oracle against
all-1.0 or random-drop scores, the same faces and weights), per branch, paired over the faces and pooled over
seeds, with a 95% percentile-bootstrap interval (2,000 resamples of the faces, the same faces for every seed,
the mean over seeds); the donor-class rate of the swap columns; and how many interest points each score mode
keeps.

    python benchmarks/adaptivity.py --report reports/adaptivity-synthetic [--out FILE.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

#: the score modes oracle scores are contrasted with, as column-name suffixes ("dlib": the dlib backend, 1.0
#: on every point it found); the adaptivity suite's primary endpoint is "occluded, oracle" against the first
#: and the last
AGAINST = ("ones", "dlib", "random-drop")
BRANCHES = {"lab": "attention", "frb": "region", "prediction": "fused"}
RESAMPLES = 2000


def correct(manifest: pd.DataFrame, experiment: str, method: str, column: str, branch: str) -> np.ndarray:
    """seeds x faces 0/1 matrix: whether ``branch`` got each face right, faces in image-id order."""
    rows = manifest[(manifest.experiment == experiment) & (manifest.method == method) & (manifest.column == column)
                    & (manifest.status == "finished")].sort_values("seed")
    out = []
    for path in rows.predictions:
        frame = pd.read_parquet(path).sort_values("image_id")
        out.append((frame[f"pred_{branch}"] == frame["label"]).to_numpy(dtype=np.float64))
    return np.stack(out)


def paired_difference(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean over seeds of accuracy(a) - accuracy(b), in points, and its 95% bootstrap interval over faces."""
    diff = a - b  # seeds x faces
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, diff.shape[1], size=(RESAMPLES, diff.shape[1]))
    means = diff[:, draws].mean(axis=2).mean(axis=0)
    low, high = np.percentile(means, [2.5, 97.5])
    return 100 * float(diff.mean()), 100 * float(low), 100 * float(high)


def donor_rate(manifest: pd.DataFrame, experiment: str, method: str, column: str, branch: str) -> float:
    rows = manifest[(manifest.experiment == experiment) & (manifest.method == method) & (manifest.column == column)
                    & (manifest.status == "finished")]
    rates = []
    for path in rows.predictions:
        frame = pd.read_parquet(path)
        swapped = frame[frame["donor"] >= 0]
        rates.append(float((swapped[f"pred_{branch}"] == swapped["donor"]).mean()))
    return 100 * float(np.mean(rates))


def accuracy_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Every experiment x method x column x branch: accuracy per seed and its mean."""
    rows = []
    for (experiment, method, column), group in manifest[manifest.status == "finished"].groupby(
            ["experiment", "method", "column"], sort=False):
        for branch in BRANCHES:
            frames = [pd.read_parquet(p) for p in group.sort_values("seed").predictions]
            if f"pred_{branch}" not in frames[0]:
                continue
            accs = [100 * float((f[f"pred_{branch}"] == f["label"]).mean()) for f in frames]
            rows.append({"experiment": experiment, "method": method, "column": column, "branch": BRANCHES[branch],
                         **{f"seed{s}": a for s, a in zip(sorted(group.seed), accs)}, "mean": float(np.mean(accs))})
    return pd.DataFrame(rows)


def contrasts(columns: list[str]) -> list[tuple[str, str]]:
    """(minuend, subtrahend) column pairs: "<test>, oracle" against "<test>, <mode>" for each mode of AGAINST
    that the suite has, tests in the suite's order."""
    present = set(columns)
    return [(column, f"{column.removesuffix(', oracle')}, {mode}") for column in columns
            if column.endswith(", oracle") for mode in AGAINST
            if f"{column.removesuffix(', oracle')}, {mode}" in present]


def contrast_table(manifest: pd.DataFrame) -> pd.DataFrame:
    rows = []
    pairs = contrasts(list(manifest.column.unique()))
    for experiment in manifest.experiment.unique():
        for method in manifest[manifest.experiment == experiment].method.unique():
            for branch in BRANCHES:
                for first, second in pairs:
                    try:
                        a = correct(manifest, experiment, method, first, branch)
                        b = correct(manifest, experiment, method, second, branch)
                    except KeyError:  # a branch the method has not got
                        continue
                    mean, low, high = paired_difference(a, b)
                    rows.append({"experiment": experiment, "method": method, "branch": BRANCHES[branch],
                                 "contrast": f"{first} - {second}", "points": mean, "ci_low": low, "ci_high": high,
                                 "seeds": a.shape[0], "faces": a.shape[1]})
    return pd.DataFrame(rows)


def donor_table(manifest: pd.DataFrame) -> pd.DataFrame:
    rows = []
    swaps = [c for c in manifest.column.unique() if c.startswith("swap-")]
    for (experiment, method), _ in manifest.groupby(["experiment", "method"], sort=False):
        for column in swaps:
            for branch in BRANCHES:
                try:
                    rate = donor_rate(manifest, experiment, method, column, branch)
                except KeyError:
                    continue
                rows.append({"experiment": experiment, "method": method, "column": column,
                             "branch": BRANCHES[branch], "donor_rate": rate})
    return pd.DataFrame(rows)


def kept_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per column, what the score mode leaves the attention branch: the interest points kept per face (of 24;
    the same faces and scores for every method that drops points, so the first such method's first seed)."""
    rows = []
    finished = manifest[manifest.status == "finished"]
    for column in finished.column.unique():
        for path in finished[finished.column == column].sort_values(["method", "seed"]).predictions:
            frame = pd.read_parquet(path)
            if "kept_points" not in frame:
                continue
            kept = frame["kept_points"].to_numpy()
            rows.append({"column": column, "faces": len(kept), "mean_kept": float(kept.mean()),
                         "all_24": 100 * float((kept == 24).mean()), "none": 100 * float((kept == 0).mean())})
            break
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, required=True, help="the suite's report folder (manifest.csv)")
    parser.add_argument("--out", type=Path, help="write the tables here as Markdown")
    args = parser.parse_args()
    manifest_file = args.report / "manifest.csv"
    manifest = pd.read_csv(manifest_file)
    if not (manifest.status == "finished").any():
        reasons = "; ".join(sorted(set(manifest.reason.dropna().astype(str)))) or "none given"
        raise SystemExit(f"{manifest_file}: no finished run to compare (reasons: {reasons})")
    parts = [
        ("Accuracy (%) per seed, every column and branch", accuracy_table(manifest)),
        ("Paired contrasts (points; 95% bootstrap interval over faces, pooled over seeds)", contrast_table(manifest)),
        ("Donor-class rate (%): swapped faces predicted as the donor's class", donor_table(manifest)),
        ("Interest points kept per face (mean of 24; % of faces keeping all and none)", kept_table(manifest)),
    ]
    text = "\n\n".join(f"## {title}\n\n{table.to_markdown(index=False, floatfmt='.2f')}" for title, table in parts)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
