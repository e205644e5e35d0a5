"""Each command on tiny settings, through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from helpers import TINY_OVERRIDES
from oadn.cli import app
from oadn.report.figure_names import figure_name

runner = CliRunner()


def sets(*extra: str) -> list[str]:
    args = []
    for text in [*TINY_OVERRIDES, "train.epochs=1", *extra]:
        args += ["--set", text]
    return args


@pytest.mark.slow
def test_train_then_evaluate_then_resume(tmp_path):
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", "--run-dir", str(run_dir), "--no-progress", *sets()])
    assert result.exit_code == 0, result.output
    assert "test_occluded" in result.output
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"]["backbone"] == "resnet-tiny" and config["data"]["image_size"] == 32

    result = runner.invoke(app, ["evaluate", str(run_dir), "--split", "test_clean", "--no-progress"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads((run_dir / "evaluations" / "synthetic" / "metrics.json").read_text())
    final = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["test_clean"]["prediction"]["accuracy"] == final["splits"]["test_clean"]["prediction"]["accuracy"]

    result = runner.invoke(app, ["train", "--resume", str(run_dir), "--no-progress"])
    assert result.exit_code == 0, result.output

    again = runner.invoke(app, ["train", "--run-dir", str(run_dir), "--no-progress", *sets()])
    assert again.exit_code == 1 and "--resume" in again.output


def test_bad_configuration_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["train", "--run-dir", str(tmp_path / "r"), "--set", "train.learning_rate=1"])
    assert result.exit_code == 2  # a usage error, as click counts them
    assert "learning_rate" in result.output and "config.train" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: [1,\n")
    result = runner.invoke(app, ["train", "--config", str(bad)])
    assert result.exit_code == 2 and "bad.yaml:" in result.output


@pytest.mark.slow
def test_run_suite_writes_table_and_confusion_matrices(tmp_path):
    suite = tmp_path / "mini.yaml"
    base = yaml.safe_load(
        "\n".join(["data: {options: {train_size: 70, test_size: 28}, image_size: 32, "
                   "test_splits: [test_clean, test_occluded]}",
                   "model: {backbone: resnet-tiny}",
                   "train: {epochs: 1, batch_size: 16, eval_batch_size: 64}"])
    )
    suite.write_text(yaml.safe_dump({"name": "mini", "description": "Mini suite", "seeds": [0, 1], "base": base,
                                     "methods": {"OADN": {"model": {"name": "oadn"}},
                                                 "Baseline": {"model": {"name": "baseline"}}}}))
    args = ["run", "--suite", str(suite), "--runs-root", str(tmp_path / "runs"),
            "--report-dir", str(tmp_path / "report"), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = (tmp_path / "report" / "results.md").read_text()
    assert "| OADN" in table and "| Baseline" in table and "±" in table
    assert "test_occluded (n=28) mean-class acc %" in table
    figures = tmp_path / "report" / "figures"
    for method in ("OADN", "Baseline"):
        for split in ("test_clean", "test_occluded"):
            assert (figures / figure_name("confusion", "mini", split, method)).stat().st_size > 1000
    assert "data:image/png;base64," in (tmp_path / "report" / "index.html").read_text()
    results = pd.read_csv(tmp_path / "report" / "results.csv")
    clean = results[results.column == "test_clean"].set_index("method")
    assert set(clean.index) == {"OADN", "Baseline"} and (clean["seeds"] == 2).all()
    by_seed = pd.read_csv(tmp_path / "report" / "results_by_seed.csv")
    assert len(by_seed[by_seed.column == "test_clean"]) == 4
    oadn_clean = by_seed[(by_seed.column == "test_clean") & (by_seed.method == "OADN")]
    assert abs(clean.loc["OADN", "accuracy_pct"] - oadn_clean["accuracy_pct"].mean()) < 1e-9
    # OADN's branches are reported per seed beside the fused prediction, as the run's own metrics.json has them
    manifest = pd.read_csv(tmp_path / "report" / "manifest.csv")
    run_dir = manifest[(manifest.method == "OADN") & (manifest.column == "test_clean")
                       & (manifest.seed == 0)].run_dir.iloc[0]
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())["splits"]["test_clean"]
    seed0 = oadn_clean[oadn_clean.seed == 0].iloc[0]
    for branch in ("lab", "frb"):
        assert abs(seed0[f"{branch}_accuracy_pct"] - 100 * metrics[branch]["accuracy"]) < 1e-9
    assert by_seed[by_seed.method == "Baseline"]["lab_accuracy_pct"].isna().all()

    rerun = runner.invoke(app, args)
    assert rerun.exit_code == 0 and rerun.output.count("reusing") == 4


def test_unknown_suite_lists_the_builtin_ones():
    result = runner.invoke(app, ["run", "--suite", "nonexistent"])
    assert result.exit_code == 1 and "demo" in result.output


def test_models_lists_methods_and_backbones():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "oadn" in result.output and "resnet50" in result.output
