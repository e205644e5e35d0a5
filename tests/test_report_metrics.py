"""Every report metric (oadn.report.metrics.METRICS), through the one table: computed per scored row (NaN when
the predictions carry no scores), pooled over seeds into results.csv and results_by_seed.csv, shown with its
header in the tables and explained in the notes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fixtures.reports import CLASSES, manifest_row, write_predictions
from oadn.report import render_suite_report
from oadn.report.manifest import ScoredRow
from oadn.report.metrics import METRICS


def scored(probabilities: np.ndarray | None, labels: np.ndarray) -> ScoredRow:
    predicted = labels if probabilities is None else probabilities.argmax(axis=1)
    return ScoredRow(image_ids=np.arange(len(labels)).astype(str), labels=labels, correct=predicted == labels,
                     scored_classes=CLASSES, predicted_classes=CLASSES, confusion=np.zeros((7, 7)),
                     probabilities=probabilities)


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.name)
def test_every_metric_is_a_number_per_row_with_scores_and_nan_without(metric):
    labels = np.arange(14) % 7
    probabilities = np.full((14, 7), 0.05)
    probabilities[np.arange(14), labels] = 0.7
    value = metric.per_row(scored(probabilities, labels))
    assert np.isfinite(value) and value >= 0
    assert np.isnan(metric.per_row(scored(None, labels)))
    assert metric.of(scored(probabilities, labels)) == pytest.approx((100 if metric.percent else 1) * value)


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.name)
def test_every_metric_reaches_the_csv_files_the_tables_and_the_notes(metric, tmp_path):
    rows = []
    for method, correct in (("OADN", 80), ("Baseline", 60)):
        for seed in (0, 1):
            path = write_predictions(tmp_path / "runs" / method / f"seed{seed}.parquet", correct + 4 * seed,
                                     confidence=0.6 + 0.1 * seed)
            rows.append({**manifest_row(tmp_path, "Occlusion-FERPlus", "", method, seed, correct=correct),
                         "predictions": path})
    report = tmp_path / "report"
    report.mkdir()
    pd.DataFrame(rows).to_csv(report / "manifest.csv", index=False)
    (report / "suite.json").write_text(json.dumps({"name": "mini", "notes": []}))
    render_suite_report(report, resamples=50)
    results = pd.read_csv(report / "results.csv").set_index("method")
    by_seed = pd.read_csv(report / "results_by_seed.csv")
    oadn = by_seed[by_seed["method"] == "OADN"][metric.column]
    assert results.loc["OADN", metric.column] == pytest.approx(oadn.mean())
    assert results.loc["OADN", metric.std_column] == pytest.approx(oadn.std(ddof=1))
    markdown = (report / "results.md").read_text()
    assert f"Occlusion-FERPlus (n=100) {metric.header}" in markdown and metric.note in markdown


def test_the_brier_score_by_hand():
    brier = next(metric for metric in METRICS if metric.name == "brier")
    labels = np.arange(14) % 7
    probabilities = np.full((14, 7), 0.05)
    probabilities[np.arange(14), labels] = 0.7  # (1 - 0.7)^2 + 6 * 0.05^2 on every image
    assert brier.per_row(scored(probabilities, labels)) == pytest.approx(0.105)
    assert brier.per_row(scored(np.eye(7)[labels], labels)) == pytest.approx(0.0)
    assert brier.per_row(scored(np.eye(7)[(labels + 1) % 7], labels)) == pytest.approx(2.0)
