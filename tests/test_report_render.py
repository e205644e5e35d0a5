"""Suite and ablation reports rendered from report folders written in the on-disk formats a run leaves
(tests/fixtures/reports.py)."""

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from fixtures.reports import CLASSES, N, manifest_row, write_predictions
from oadn.cli import app
from oadn.report import render_ablation_report, render_suite_report
from oadn.report.figure_names import figure_name


def _pngs_are_images(folder):
    paths = sorted(folder.rglob("*.png"))
    for path in paths:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.size[0] > 300 and image.size[1] > 200, path
    return paths


@pytest.mark.slow
def test_suite_report_numbers_tables_and_figures(suite_dir):
    index = render_suite_report(suite_dir, resamples=300)
    results = pd.read_csv(suite_dir / "results.csv")
    ours = results[(results.source == "ours") & (results.column == "Occlusion-FERPlus")].set_index("method")
    assert ours.loc["OADN", "accuracy_pct"] == pytest.approx(82.0)
    assert ours.loc["OADN", "accuracy_std_pct"] == pytest.approx(np.std([80, 84], ddof=1))
    assert ours.loc["OADN", "delta_vs_published_oadn_pp"] == pytest.approx(82.0 - 84.57)
    assert ours.loc["OADN", "images"] == N and ours.loc["OADN", "seeds"] == 2
    assert ours.loc["OADN", "accuracy_ci_low_pct"] < 82.0 < ours.loc["OADN", "accuracy_ci_high_pct"]
    labels = np.arange(N) % 7
    expected_mca = np.mean([np.mean(np.arange(N)[labels == c] < 80) for c in range(7)])
    seed0 = pd.read_csv(suite_dir / "results_by_seed.csv").query("method == 'OADN' and seed == 0").iloc[0]
    assert seed0.mean_class_accuracy_pct == pytest.approx(100 * expected_mca)
    # Baseline seed 0 gets images 0-69 right, OADN 0-79: 0 vs 10 discordant pairs -> exact p = 2 / 2^10
    assert ours.loc["Baseline", "mcnemar_p"] == pytest.approx(2 / 1024)
    assert ours.loc["Baseline", "mcnemar_test"] == "exact binomial" and ours.loc["Baseline", "mcnemar_seed"] == 0
    assert ours.loc["ResNet-18", "seeds"] == 1 and ours.loc["ResNet-18", "pretraining"] == "scratch"
    published = results[(results.source == "published") & (results.column == "Occlusion-FERPlus")]
    assert dict(zip(published.method, published.accuracy_pct)) == {"RAN": 83.63, "OADN": 84.57}
    lab = results[(results.column == "Lab faces") & (results.source == "ours")].iloc[0]
    assert lab.accuracy_pct == pytest.approx(100 * 40 / 60) and lab.images == 60

    markdown = (suite_dir / "results.md").read_text()
    assert re.search(r"\| OADN +\| vggface2 +\| published +\| 84.57 ", markdown)
    assert "82.00 ± 2.83" in markdown and "-2.57" in markdown
    assert re.search(r"\| ResNet-18 \| scratch .*\| - +\| - +\|", markdown)  # Pose>30 cells missing
    assert "ResNet-18 on Pose>30-FERPlus, seed 0: skipped (data missing: pose_30_ferplus_list.txt)" in markdown
    assert "seed 1: unfinished (no final metrics)" in markdown
    # every column says how it was scored, in the notes (Markdown and HTML) and in results.csv
    assert "Lab faces (lab): scored on 6 of 7 classes, arg-max over all 7" in markdown
    assert "Occlusion-FERPlus (ferplus-ran): scored on 7 of 7 classes (surprise, fear" in markdown
    assert "Lab faces (lab): scored on 6 of 7 classes, arg-max over all 7" in (suite_dir / "index.html").read_text()
    assert lab.scoring.startswith("6 of 7 classes, arg-max") and lab.scored_classes == ",".join(CLASSES[:6])
    restricted_manifest = pd.read_csv(suite_dir / "manifest.csv", dtype=str, keep_default_na=False)
    restricted_manifest.loc[restricted_manifest["column"] == "Lab faces", "restricted"] = "true"
    restricted_manifest.to_csv(suite_dir / "manifest.csv", index=False)
    render_suite_report(suite_dir, resamples=50)
    assert "scored on 6 of 7 classes, predictions restricted to them" in (suite_dir / "results.md").read_text()
    markdown = (suite_dir / "results.md").read_text()

    latex = (suite_dir / "results.tex").read_text()
    assert all(rule in latex for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}"))
    assert latex.count("{") == latex.count("}") and "$\\pm$" in latex and "Pose\\textgreater{}30-FERPlus" in latex
    assert "acc \\%" in latex and " % " not in latex.replace("\\%", "")
    for table in latex.split("\\begin{tabular}")[1:]:
        body = table.split("\\midrule")[1].split("\\bottomrule")[0]
        widths = {line.count("&") for line in body.strip().splitlines()}
        assert len(widths) == 1, widths

    pngs = _pngs_are_images(suite_dir / "figures")
    names = {p.name for p in pngs}
    assert figure_name("bars", "ferplus-ran", "Occlusion-FERPlus") in names
    # a bar chart per test set (3), a confusion matrix per (test set, method with results) (5 + 1), an all-pairs
    # matrix per test set with two or more methods (2); no reliability diagram: these predictions have no scores
    assert figure_name("confusion", "lab", "Lab faces", "OADN") in names and len(names) == 3 + 5 + 1 + 2
    assert figure_name("pairs", "ferplus-ran", "Occlusion-FERPlus") in names
    assert not any(n.startswith("reliability_") for n in names)
    page = index.read_text()
    assert page.count("data:image/png;base64,") == len(pngs) and "Δ acc" in page
    assert 'href="mini/index.html"' in (suite_dir.parent / "index.html").read_text()


def test_ablation_report(ablation_dir):
    index = render_ablation_report(ablation_dir)
    markdown = (ablation_dir / "ablation.md").read_text()
    assert "71.00 ± 1.41 (n=2)" in markdown  # T=0.6 retrained overall: mean of 70 and 72
    assert "68.00 (n=1)" in markdown  # at-test at T=0.6
    assert "T=0.3 (retrained) seed 0 on test_occluded: unfinished" in markdown
    assert "retrained: one model trained per value; at-test" in markdown
    (png,) = _pngs_are_images(ablation_dir)
    assert index.read_text().count("data:image/png;base64,") == 1


def test_report_command_by_name_and_folder(ablation_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["report", "ablate-T", "--reports-root", str(ablation_dir.parent)])
    assert result.exit_code == 0, result.output
    assert (ablation_dir / "index.html").is_file() and (ablation_dir.parent / "index.html").is_file()
    assert "71.00 ± 1.41 (n=2)" in result.output  # the ablation's table is printed
    result = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no report folder" in " ".join(result.output.split())
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "holds no manifest.csv or ablation.csv" in " ".join(result.output.split())


def test_calibration_and_all_pairs_matrix(tmp_path):
    """Three methods on one test set with scores: ECE and NLL from the scores, every pair McNemar-tested and
    Holm-corrected, a reliability diagram and a pairs matrix."""
    rows = []
    for method, correct, confidence in (("OADN", 90, 0.9), ("Baseline", 60, 0.95), ("RAN", 85, 0.5)):
        for seed in (0, 1):
            path = write_predictions(tmp_path / "runs" / method / f"seed{seed}.parquet", correct, confidence=confidence)
            rows.append({**manifest_row(tmp_path, "Occlusion-FERPlus", "occlusion-ferplus", method, seed,
                                        correct=correct, init="vggface2", model=method.lower()),
                         "predictions": path})
    report = tmp_path / "report"
    report.mkdir()
    pd.DataFrame(rows).to_csv(report / "manifest.csv", index=False)
    index = render_suite_report(report, resamples=100)
    results = pd.read_csv(report / "results.csv").query("source == 'ours'").set_index("method")
    # one confidence for every image: ECE = |accuracy - confidence|; NLL = -log p(true) averaged
    assert results.loc["OADN", "ece_pct"] == pytest.approx(0.0, abs=1e-4)
    assert results.loc["Baseline", "ece_pct"] == pytest.approx(35.0, abs=1e-4)
    assert results.loc["RAN", "ece_pct"] == pytest.approx(35.0, abs=1e-4)
    expected_nll = -(0.6 * np.log(0.95) + 0.4 * np.log(0.05 / 6))
    assert results.loc["Baseline", "nll"] == pytest.approx(expected_nll, rel=1e-5)
    assert results.loc["Baseline", "nll_std"] == pytest.approx(0.0, abs=1e-6)
    pairs = pd.read_csv(report / "mcnemar_all_pairs.csv")
    assert len(pairs) == 2 * 3  # three pairs per seed
    seed0 = pairs[pairs.seed == 0].set_index(["method", "versus"])
    # OADN vs Baseline: 30 vs 0 discordant -> chi-square cc (29^2 / 30); OADN vs RAN 5 vs 0 exact 2 / 2^5
    raw = {("OADN", "Baseline"): seed0.loc[("OADN", "Baseline"), "p_value"],
           ("OADN", "RAN"): 2 / 32, ("Baseline", "RAN"): seed0.loc[("Baseline", "RAN"), "p_value"]}
    assert seed0.loc[("OADN", "RAN"), "p_value"] == pytest.approx(2 / 32)
    ordered = sorted(raw.values())
    assert seed0["p_holm"].min() == pytest.approx(3 * ordered[0])
    assert seed0.loc[("OADN", "RAN"), "p_holm"] == pytest.approx(max(3 * ordered[0], 2 * ordered[1], ordered[2]))
    markdown = (report / "results.md").read_text()
    assert "ECE %" in markdown and "NLL" in markdown and "All pairs on Occlusion-FERPlus" in markdown
    assert re.search(r"\| RAN +\| -5.00 pp, p=", markdown)  # RAN's row against OADN's column
    names = {p.name for p in _pngs_are_images(report / "figures")}
    assert {figure_name(kind, "ferplus-ran", "Occlusion-FERPlus") for kind in ("reliability", "pairs")} <= names
    assert "McNemar, Holm-adjusted" in index.read_text()


@pytest.mark.slow
def test_published_rows_sit_beside_our_rows_of_the_same_method(tmp_path):
    rows = []
    for method, model, correct in (("OADN", "oadn", 90), ("RAN", "ran", 80), ("Mine", "mine", 70)):
        rows.append(manifest_row(tmp_path, "Occlusion-FERPlus", "occlusion-ferplus", method, 0, correct=correct,
                         init="vggface2", model=model))
    report = tmp_path / "report"
    report.mkdir()
    pd.DataFrame(rows).to_csv(report / "manifest.csv", index=False)
    render_suite_report(report, resamples=50)
    results = pd.read_csv(report / "results.csv").query("source == 'ours'").set_index("method")
    assert results.loc["RAN", "delta_vs_published_same_pp"] == pytest.approx(80.0 - 83.63)
    assert results.loc["RAN", "published_method"] == "RAN" and results.loc["RAN", "published_pretraining"] == "vggface2"
    assert results.loc["OADN", "delta_vs_published_same_pp"] == pytest.approx(90.0 - 84.57)
    assert pd.isna(results.loc["Mine", "delta_vs_published_same_pp"])
    lines = [line for line in (report / "results.md").read_text().splitlines() if line.startswith("| ")]
    labels = [line.split("|")[1].strip() for line in lines[1:6]]
    assert labels == ["RAN (published)", "RAN (ours)", "OADN (published)", "OADN (ours)", "Mine"]
    assert "Δ vs its published pp" in lines[0] and "-3.63" in lines[2]
    # a manifest written before the model column existed still renders, without links
    pd.DataFrame(rows).drop(columns="model").to_csv(report / "manifest.csv", index=False)
    render_suite_report(report, resamples=50)
    assert "Δ vs its published pp" not in (report / "results.md").read_text()
