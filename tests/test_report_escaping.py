"""Every user-given string reaches the HTML pages escaped: method, column, experiment and
suite names with markup in them render as text, in the tables as in titles and notes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from oadn.report import render_ablation_report, render_suite_report

MARKUP = '<script>alert("x")</script>'


def assert_escaped(page: str, *names: str) -> None:
    assert "<script" not in page.lower() and "<img src=x" not in page
    for name in names:
        assert name not in page
    assert "&lt;script&gt;" in page


@pytest.mark.slow
def test_suite_report_escapes_method_column_and_experiment_names(suite_dir: Path):
    manifest = pd.read_csv(suite_dir / "manifest.csv")
    manifest["method"] = manifest["method"].replace({"Baseline": f"Base{MARKUP}", "ResNet-18": "<img src=x>"})
    manifest["column"] = manifest["column"].replace({"Occlusion-FERPlus": f"<b>Occ</b>{MARKUP}"})
    manifest["experiment_title"] = manifest["experiment_title"] + MARKUP
    manifest.to_csv(suite_dir / "manifest.csv", index=False)
    info = json.loads((suite_dir / "suite.json").read_text())
    (suite_dir / "suite.json").write_text(json.dumps({**info, "description": f"Suite {MARKUP}",
                                                      "notes": [f"note {MARKUP}"]}))
    render_suite_report(suite_dir, resamples=50)
    page = (suite_dir / "index.html").read_text()
    assert_escaped(page, "<b>Occ</b>", "<img src=x>")
    assert "Base&lt;script&gt;" in page and "&lt;b&gt;Occ&lt;/b&gt;" in page and "&lt;img src=x&gt;" in page
    assert "82.00" in page  # OADN's mean on Occlusion-FERPlus, (80 + 84) / 2, still formatted as before
    index = (suite_dir.parent / "index.html").read_text()
    assert_escaped(index)


def test_ablation_report_escapes_the_description_and_values(ablation_dir: Path):
    frame = pd.read_csv(ablation_dir / "ablation.csv")
    frame["column"] = frame["column"].astype(str) + MARKUP
    frame.to_csv(ablation_dir / "ablation.csv", index=False)
    info = json.loads((ablation_dir / "ablation.json").read_text())
    (ablation_dir / "ablation.json").write_text(json.dumps({**info, "description": MARKUP, "dataset": MARKUP}))
    render_ablation_report(ablation_dir)
    assert_escaped((ablation_dir / "index.html").read_text())
