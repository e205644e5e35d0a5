"""A suite's numbers: one row per (experiment, test set, method) with seeds pooled, published rows beside ours.

Everything here stays numeric (percent); tables and figures format it at the very end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from oadn.models.pretrained import pretraining_tag
from oadn.report.manifest import ScoredRow, score_row
from oadn.report.metrics import METRICS
from oadn.report.stats import bootstrap_intervals, holm, mcnemar, reliability_bins

OURS, PUBLISHED = "ours", "published"
RESULT_COLUMNS = [
    "suite", "experiment", "experiment_title", "table", "column", "published_key", "source", "method", "pretraining",
    "published_table", "seeds", "seed_list", "images", "accuracy_pct", "accuracy_std_pct", "accuracy_ci_low_pct",
    "accuracy_ci_high_pct", "mean_class_accuracy_pct", "mean_class_accuracy_std_pct", "mean_class_ci_low_pct",
    "mean_class_ci_high_pct", "delta_vs_published_oadn_pp", "delta_reference", "mcnemar_seed", "mcnemar_p",
    "mcnemar_test", "mcnemar_only_method", "mcnemar_only_oadn", "scoring", "scored_classes",
    *(column for metric in METRICS for column in (metric.column, metric.std_column)),
    "model", "published_method", "published_pretraining", "delta_vs_published_same_pp",
]  # fmt: skip


def scoring_text(classes: list[str], scored: list[str], restricted: bool) -> str:
    """How a column was scored, e.g. "7 of 8 classes, predictions restricted to them"."""
    text = f"{len(scored)} of {len(classes)} classes"
    if list(scored) == list(classes):
        return text
    return text + (", predictions restricted to them" if restricted else
                   f", arg-max over all {len(classes)} (a prediction of another class counts as wrong)")


@dataclass
class SuiteSummary:
    results: pd.DataFrame = field(default_factory=pd.DataFrame)  # per (experiment, column, source, method, init)
    per_seed: pd.DataFrame = field(default_factory=pd.DataFrame)  # per scored (experiment, column, method, seed)
    per_class: pd.DataFrame = field(default_factory=pd.DataFrame)  # mean per-class accuracy over seeds
    mcnemar: pd.DataFrame = field(default_factory=pd.DataFrame)  # every seed pair of (method, OADN)
    #: McNemar between every pair of our methods per (experiment, column, seed), Holm-corrected within each
    pairwise: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: reliability-diagram bins per (experiment, column, method), seeds pooled
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame)
    confusions: dict[tuple[str, str, str], tuple[np.ndarray, list[str], list[str]]] = field(default_factory=dict)
    missing: list[dict] = field(default_factory=list)  # experiment, column, method, seed, status, reason
    #: (experiment, column, method) -> seed -> the scored predictions (what endpoints and analyses pair up)
    scored: dict[tuple[str, str, str], dict[int, ScoredRow]] = field(default_factory=dict)


def reference_method(methods: list[str]) -> str | None:
    """Our OADN row the others are paired against: the method named OADN, else the first named OADN-something."""
    exact = [m for m in methods if m.lower() == "oadn"]
    prefixed = [m for m in methods if m.lower().startswith("oadn")]
    return (exact or prefixed or [None])[0]


def pretraining_label(init: str) -> str:
    """scratch / a timm or face-recognition tag as is (``vggface2:PATH`` as ``vggface2``); a weights file by its
    file name."""
    return pretraining_tag(init) if init else init


def _published_reference(published: pd.DataFrame, key: str, init: str) -> pd.Series | None:
    """The published OADN row to compare with: same pre-training if printed, else ImageNet, else any."""
    rows = published[(published["published_key"] == key) & (published["method"] == "OADN")]
    for choice in (rows[rows["pretraining"] == init], rows[rows["pretraining"] == "imagenet"], rows):
        if len(choice):
            return choice.iloc[0]
    return None


def _published_same_method(published: pd.DataFrame, key: str, model: str, init: str) -> pd.Series | None:
    """The published row of the method our row retrains (same registered model): same pre-training if printed,
    else the first the paper prints; None for a method the paper does not print on this test set."""
    if not key or not model:
        return None
    rows = published[(published["published_key"] == key) & (published["model"] == model)]
    for choice in (rows[rows["pretraining"] == init], rows):
        if len(choice):
            return choice.iloc[0]
    return None


def _aligned(scored: dict[int, ScoredRow]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image ids, labels and (seeds, images) correctness on the images every seed scored."""
    first = next(iter(scored.values()))
    common = set(first.image_ids)
    for row in scored.values():
        common &= set(row.image_ids)
    keep = np.isin(first.image_ids, list(common))
    ids = first.image_ids[keep]
    correct = []
    for row in scored.values():
        position = pd.Series(np.arange(len(row.image_ids)), index=row.image_ids)
        correct.append(row.correct[position.loc[ids].to_numpy()])
    return ids, first.labels[keep], np.stack(correct)


def _paired(first: ScoredRow, second: ScoredRow) -> tuple[np.ndarray, np.ndarray]:
    ids = np.intersect1d(first.image_ids, second.image_ids)
    a = pd.Series(first.correct, index=first.image_ids).loc[ids].to_numpy()
    b = pd.Series(second.correct, index=second.image_ids).loc[ids].to_numpy()
    return a, b


def _score_cell(cell: pd.DataFrame, report_dir: Path, base: dict) -> tuple[dict, dict, dict, list[dict]]:
    """Scored rows per method and seed, each method's initialisation and registered model, and the rows that are
    missing and why."""
    scored: dict[str, dict[int, ScoredRow]] = {}
    inits: dict[str, str] = {}
    models: dict[str, str] = {}
    missing = []
    for row in cell.itertuples(index=False):
        inits.setdefault(row.method, row.init)
        models.setdefault(row.method, row.model)
        scored.setdefault(row.method, {})
        reason = row.reason or row.status
        if row.status == "finished":
            try:
                scored[row.method][row.seed] = score_row(pd.Series(row._asdict()), report_dir)
                continue
            except FileNotFoundError as error:  # a partial report shows the cell as missing, with why
                reason = str(error)
        missing.append({**base, "method": row.method, "seed": row.seed, "status": row.status, "reason": reason})
    return scored, inits, models, missing


def _spread(values: np.ndarray) -> float:
    """Sample standard deviation over seeds; undefined (NaN) for one seed."""
    return float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def _pooled(by_seed: dict[int, ScoredRow], resamples: int) -> dict:
    """Mean, sample std and bootstrap interval over seeds, in percent."""
    ids, labels, correct = _aligned(by_seed)
    ci = bootstrap_intervals(labels, correct, resamples=resamples, seed=0)
    accuracy = np.array([100 * r.accuracy for r in by_seed.values()])
    mean_class = np.array([100 * r.mean_class_accuracy for r in by_seed.values()])
    metrics = {}
    for metric in METRICS:
        values = np.array([metric.of(r) for r in by_seed.values()])
        metrics.update({metric.column: values.mean(), metric.std_column: _spread(values)})
    return {
        **metrics, "seeds": len(by_seed), "seed_list": " ".join(map(str, by_seed)), "images": len(ids),
        "accuracy_pct": accuracy.mean(), "accuracy_std_pct": _spread(accuracy),
        "accuracy_ci_low_pct": 100 * ci["accuracy"].low, "accuracy_ci_high_pct": 100 * ci["accuracy"].high,
        "mean_class_accuracy_pct": mean_class.mean(), "mean_class_accuracy_std_pct": _spread(mean_class),
        "mean_class_ci_low_pct": 100 * ci["mean_class_accuracy"].low,
        "mean_class_ci_high_pct": 100 * ci["mean_class_accuracy"].high,
    }  # fmt: skip


def _summed_confusion(rows: list[ScoredRow]) -> tuple[np.ndarray, list[str], list[str]]:
    classes = rows[0].scored_classes
    predicted = list(dict.fromkeys(c for r in rows for c in r.predicted_classes))
    matrix = np.zeros((len(classes), len(predicted)), dtype=np.int64)
    for r in rows:
        matrix[:, [predicted.index(c) for c in r.predicted_classes]] += r.confusion
    return matrix, classes, predicted


def _reliability(rows: list[ScoredRow], base: dict) -> list[dict]:
    """Reliability bins of one method on one test set, every seed's images pooled; none without scores."""
    if any(r.probabilities is None for r in rows):
        return []
    confidence = np.concatenate([r.probabilities.max(axis=1) for r in rows])
    table = reliability_bins(confidence, np.concatenate([r.correct for r in rows]))
    return [{**base, "bin": number, **values} for number, values in enumerate(table.to_dict("records"))]


def all_pairs(scored: dict[str, dict[int, ScoredRow]], base: dict) -> list[dict]:
    """McNemar between every pair of methods on one test set, per seed both have, on the images both scored;
    Holm's correction over the pairs of each seed (one family per test set and seed)."""
    methods = [m for m in scored if scored[m]]
    out = []
    for seed in sorted({s for m in methods for s in scored[m]}):
        family = []
        for i, first in enumerate(methods):
            for second in methods[i + 1:]:
                if seed not in scored[first] or seed not in scored[second]:
                    continue
                a, b = _paired(scored[first][seed], scored[second][seed])
                test = mcnemar(a, b)
                family.append({**base, "seed": seed, "method": first, "versus": second, "images": len(a),
                               "accuracy_method_pct": 100 * a.mean(), "accuracy_versus_pct": 100 * b.mean(),
                               "only_method": test.only_first, "only_versus": test.only_second,
                               "p_value": test.p_value, "test": test.test})  # fmt: skip
        for row, adjusted in zip(family, holm(np.array([r["p_value"] for r in family]))):
            row["p_holm"] = float(adjusted)
        out += family
    return out


def summarise_suite(
    manifest: pd.DataFrame, report_dir: Path, published: pd.DataFrame, *, resamples: int = 2000
) -> SuiteSummary:
    """Score every finished row, pool seeds per method, attach intervals, McNemar and published rows."""
    summary = SuiteSummary()
    results, per_seed, per_class, pairs, pairwise, reliability = [], [], [], [], [], []
    for (experiment, column), cell in manifest.groupby(["experiment", "column"], sort=False):
        head = cell.iloc[0]
        done = cell[cell["status"] == "finished"]
        first = None if done.empty else done.iloc[0]
        how = {} if first is None else {
            "scoring": scoring_text(first["classes"], first["scored_classes"], first["restricted"]),
            "scored_classes": ",".join(first["scored_classes"])}
        base = {
            "suite": head["suite"], "experiment": experiment, "experiment_title": head["experiment_title"],
            "table": head["table"], "column": column, "published_key": head["published_key"],
        }  # fmt: skip
        scored, inits, models, missing = _score_cell(cell, report_dir, base)
        summary.missing += missing
        summary.scored.update({(experiment, column, method): by_seed for method, by_seed in scored.items()})
        results += [
            {**base, "source": PUBLISHED, "method": pub.method, "pretraining": pub.pretraining,
             "accuracy_pct": pub.accuracy, "published_table": pub.table, "model": pub.model}
            for pub in published[published["published_key"] == head["published_key"]].itertuples(index=False)
        ] if head["published_key"] else []  # fmt: skip
        oadn = reference_method(list(scored))
        for method, by_seed in scored.items():
            entry = {**base, "source": OURS, "method": method, "pretraining": pretraining_label(inits[method]),
                     "model": models[method], **how}
            if not by_seed:
                results.append({**entry, "seeds": 0})
                continue
            entry.update(_pooled(by_seed, resamples))
            per_seed += [
                {**base, "method": method, "seed": seed, "images": len(row.correct), "accuracy_pct": 100 * row.accuracy,
                 "mean_class_accuracy_pct": 100 * row.mean_class_accuracy,
                 **{metric.column: metric.of(row) for metric in METRICS},
                 **{f"{branch}_accuracy_pct": 100 * value for branch, value in row.branch_accuracy.items()}}
                for seed, row in by_seed.items()
            ]  # fmt: skip
            same = _published_same_method(published, head["published_key"], models[method], inits[method])
            if same is not None:
                entry.update(published_method=same["method"], published_pretraining=same["pretraining"],
                             delta_vs_published_same_pp=entry["accuracy_pct"] - same["accuracy"])
            reference = _published_reference(published, head["published_key"], inits[method])
            if reference is not None:
                entry["delta_vs_published_oadn_pp"] = entry["accuracy_pct"] - reference["accuracy"]
                entry["delta_reference"] = f"OADN ({reference['pretraining']}) {reference['accuracy']:.2f}"
            if oadn and method != oadn and scored.get(oadn):
                tests = {s: mcnemar(*_paired(r, scored[oadn][s])) for s, r in by_seed.items() if s in scored[oadn]}
                pairs += [
                    {**base, "method": method, "versus": oadn, "seed": seed, "only_method": test.only_first,
                     "only_oadn": test.only_second, "p_value": test.p_value, "test": test.test}
                    for seed, test in tests.items()
                ]  # fmt: skip
                if tests:  # the table shows the first seed both share
                    seed, test = next(iter(tests.items()))
                    entry.update(mcnemar_seed=seed, mcnemar_p=test.p_value, mcnemar_test=test.test,
                                 mcnemar_only_method=test.only_first, mcnemar_only_oadn=test.only_second)  # fmt: skip
            results.append(entry)
            rows = list(by_seed.values())
            recalls = pd.DataFrame([r.per_class_accuracy() for r in rows])[rows[0].scored_classes]
            per_class.append({**base, "method": method, "seeds": len(rows), **(100 * recalls.mean()).to_dict()})
            summary.confusions[(experiment, column, method)] = _summed_confusion(rows)
            reliability += _reliability(rows, {**base, "method": method})
        pairwise += all_pairs(scored, base)
    summary.results = pd.DataFrame(results, columns=RESULT_COLUMNS)
    summary.per_seed, summary.per_class, summary.mcnemar = map(pd.DataFrame, (per_seed, per_class, pairs))
    summary.pairwise, summary.reliability = pd.DataFrame(pairwise), pd.DataFrame(reliability)
    return summary
