"""Pre-registered endpoints: a contrast between two columns of the same runs, paired over faces and pooled over
seeds, with its interval, per-seed values and the suite's verdict; donor-class rates and kept interest points;
endpoints checked when a suite file is loaded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from oadn.config import ConfigError
from oadn.experiments.suites import load_suite
from oadn.report import render_suite_report
from oadn.report.endpoints import Endpoint, paired_contrast, verdict

CLASSES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
FACES = 400


def _predictions(path, lab_right, fused_right, donor=None, kept=None):
    """FACES faces: the attention branch right on ``lab_right`` (bools), the fused prediction on ``fused_right``."""
    labels = np.arange(FACES) % 7
    frame = pd.DataFrame({"image_id": [f"f{i:04d}" for i in range(FACES)], "label": labels,
                          "pred_prediction": np.where(fused_right, labels, (labels + 1) % 7),
                          "pred_lab": np.where(lab_right, labels, (labels + 2) % 7),
                          "pred_frb": labels})
    if donor is not None:
        frame["donor"] = donor
    if kept is not None:
        frame["kept_points"] = kept
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    return str(path)


def _row(tmp_path, column, seed, lab_right, method="OADN", **columns):
    predictions = _predictions(tmp_path / "runs" / column / method / f"{seed}.parquet", lab_right,
                               np.ones(FACES, bool), **columns)
    return {"suite": "s", "experiment": "e", "experiment_title": "E", "table": "", "column": column,
            "published_key": "", "dataset": "occluded", "split": "test", "options": "{}", "method": method,
            "seed": seed, "init": "scratch", "status": "finished", "reason": "", "run_dir": "",
            "predictions": predictions, "classes": json.dumps(CLASSES), "scored_classes": json.dumps(CLASSES),
            "restricted": "false", "model": "oadn"}


def _report(tmp_path, gains: dict[int, int], endpoints: list[dict]):
    """Seeds whose attention branch gets ``gains[seed]`` more faces right with oracle scores than with all-1.0."""
    rng = np.random.default_rng(0)
    rows = []
    for seed, gain in gains.items():
        base = rng.random(FACES) < 0.6
        better = base.copy()
        better[np.flatnonzero(~base)[:gain]] = True
        donor = np.where(np.arange(FACES) % 2 == 0, (np.arange(FACES) + 2) % 7, -1)  # half the faces swapped
        rows.append(_row(tmp_path, "eyes, oracle", seed, better, donor=donor, kept=np.full(FACES, 20)))
        rows.append(_row(tmp_path, "eyes, ones", seed, base, kept=np.full(FACES, 24)))
    report = tmp_path / "report"
    report.mkdir()
    pd.DataFrame(rows).to_csv(report / "manifest.csv", index=False)
    (report / "suite.json").write_text(json.dumps({"name": "s", "description": "S", "notes": [],
                                                   "endpoints": endpoints}))
    render_suite_report(report, resamples=400)
    return report


EYES = {"name": "eyes", "method": "OADN", "branch": "attention", "column": "eyes, oracle", "against": "eyes, ones",
        "bar": 1.5, "primary": True}


def test_an_endpoint_is_paired_over_faces_pooled_over_seeds_and_judged_by_the_suites_rule(tmp_path):
    report = _report(tmp_path, {0: 16, 1: 12, 2: 20}, [EYES, {**EYES, "name": "fused", "branch": "fused",
                                                           "primary": False}])
    rows = pd.read_csv(report / "endpoints.csv")
    eyes = rows[rows.endpoint == "eyes"].iloc[0]
    assert eyes.seeds == 3 and eyes.faces == FACES
    assert eyes.points == pytest.approx(100 * (16 + 12 + 20) / 3 / FACES)  # 4 points
    assert eyes.ci_low > 0 and eyes.ci_low < eyes.points < eyes.ci_high and eyes.verdict == "met"
    assert eyes.per_seed == "0:+4.00 1:+3.00 2:+5.00" and eyes.positive_seeds == 3
    assert eyes.seed_std == pytest.approx(1.0)
    fused = rows[rows.endpoint == "fused"].iloc[0]
    assert fused.points == 0 and fused.verdict == "not met"  # the fused prediction is right everywhere
    text = (report / "results.md").read_text()
    assert "## Pre-registered endpoints" in text and "eyes (primary)" in text and "| met " in text
    assert "Pre-registered endpoints" in (report / "index.html").read_text()


def test_a_contrast_below_the_bar_or_with_most_seeds_negative_is_not_met(tmp_path):
    small = pd.read_csv(_report(tmp_path / "a", {0: 4, 1: 4}, [EYES]) / "endpoints.csv").iloc[0]
    assert small.points == pytest.approx(1.0) and small.verdict == "not met"  # under the +1.5 bar
    assert verdict(3.0, 0.5, [5.0, -0.5, -0.2], bar=1.5) == "not met"  # most seeds negative
    assert verdict(3.0, -0.1, [3.0, 3.0], bar=1.5) == "not met"  # the interval reaches 0
    assert verdict(3.0, 0.1, [3.0, 3.0], bar=1.5) == "met"


def test_the_contrast_interval_narrows_with_more_faces():
    rng = np.random.default_rng(1)
    narrow = paired_contrast((rng.random((2, 4000)) < 0.1).astype(float), 500)
    wide = paired_contrast((rng.random((2, 100)) < 0.1).astype(float), 500)
    assert narrow[2] - narrow[1] < wide[2] - wide[1]
    assert narrow[1] < narrow[0] < narrow[2] and narrow[0] == pytest.approx(10, abs=1)


def test_donor_rates_and_kept_points_come_from_the_columns_that_carry_them(tmp_path):
    report = _report(tmp_path, {0: 8}, [])
    donors = pd.read_csv(report / "donor_rates.csv")
    attention = donors[(donors.column == "eyes, oracle") & (donors.branch == "attention")].iloc[0]
    assert attention.swapped_faces == FACES // 2
    base = np.random.default_rng(0).random(FACES) < 0.6  # as _report draws seed 0's faces
    right = base.copy()
    right[np.flatnonzero(~base)[:8]] = True
    # a wrong attention answer is label + 2: the donor's class on the swapped (even) faces
    assert attention.donor_rate_pct == pytest.approx(100 * (~right[::2]).mean())
    assert set(donors.column) == {"eyes, oracle"}
    fused = donors[(donors.column == "eyes, oracle") & (donors.branch == "fused")].iloc[0]
    assert fused.donor_rate_pct == 0  # the fused prediction is always the label
    kept = pd.read_csv(report / "kept_points.csv").set_index("column")
    assert kept.loc["eyes, oracle", "mean_kept"] == 20 and kept.loc["eyes, ones", "all_24_pct"] == 100
    assert pd.read_csv(report / "endpoints.csv").empty  # the suite states none
    assert "Pre-registered endpoints" not in (report / "results.md").read_text()


def test_a_suite_files_endpoints_are_checked_when_it_is_loaded(tmp_path):
    suite = tmp_path / "s.yaml"
    body = ("name: s\nmethods: {OADN: {model: {name: oadn}}}\nexperiments:\n  - id: e\n    columns:\n"
            "      - {name: a, split: test}\n      - {name: b, dataset: occluded}\n")
    suite.write_text(body + "endpoints:\n  - {name: x, method: OADN, column: a, against: b, bar: 1.5}\n")
    (endpoint,) = load_suite(str(suite)).endpoints
    assert endpoint == Endpoint(name="x", method="OADN", column="a", against="b", bar=1.5)
    for bad, message in (("{name: x, method: RAN, column: a, against: b}", "method 'RAN'"),
                         ("{name: x, method: OADN, column: a, against: c}", "column 'c'"),
                         ("{name: x, method: OADN, column: a, against: b, branch: both}", "branch 'both'"),
                         ("{name: x, method: OADN, column: a, against: b, colour: red}", "unknown key(s) colour"),
                         ("{name: x, method: OADN, column: a}", "missing key(s) against")):
        suite.write_text(body + f"endpoints:\n  - {bad}\n")
        with pytest.raises(ConfigError, match=r"s\.yaml: endpoints\[0\]") as error:
            load_suite(str(suite))
        assert message in str(error.value)
