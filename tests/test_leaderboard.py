"""``oadn-bench leaderboard``: scored runs collected into one record per (method, pre-training, data set,
protocol), seeds pooled, each against the GAP baseline trained the same way, rendered as Markdown, CSV and a
sortable HTML page with the published rows marked; a run on other data never lands in another's row."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import one_named_line
from oadn.cli import app
from oadn.config import build_config
from oadn.engine.robustness import PROTOCOLS, Protocol, protocol_cells
from oadn.engine.run_dir import save_config

GRID = Protocol("small-grid", ("eyes", "mouth"), (0.1, 0.5), ("swap-mouth",), "backend", 0, "test grid")
FACES = 100


@pytest.fixture(autouse=True)
def small_grid(monkeypatch):
    monkeypatch.setitem(PROTOCOLS, GRID.name, GRID)


def _scored_run(folder: Path, method: str, model: str, seed: int, accuracies: list[float],
                training: str = "copy-a", backbone: str = "cnn-tiny") -> Path:
    """A run directory as ``train`` and ``evaluate --protocol`` leave it, with chosen accuracies per cell (the
    first faces right)."""
    config = build_config(overrides=["data.name=ferplus", "data.root=/data/ferplus", f"model.name={model}",
                                     f"model.backbone={backbone}", f"train.seed={seed}", "data.image_size=64",
                                     f"name=suite/ferplus/{method}/seed{seed}"])
    run = folder / method.replace(" ", "_") / f"seed{seed}-{training}"
    save_config(config, run)
    cells = protocol_cells(GRID)
    assert len(accuracies) == len(cells)
    out = run / "robustness" / GRID.name
    out.mkdir(parents=True)
    correct = np.array([[i < round(a * FACES) for i in range(FACES)] for a in accuracies])
    np.savez_compressed(out / "correct.npz", correct=correct, image_ids=np.array([f"f{i:03d}" for i in range(FACES)]),
                        labels=np.zeros(FACES, dtype=np.int64))
    summary = {"protocol": asdict(GRID), "run": str(run), "base": "ferplus", "base_options": {}, "split": "test",
               "test_data": {"images": "same-test-faces"}, "training_data": {"splits": {"train": training}},
               "classes": ["neutral"], "cells": [{**asdict(c), "accuracy": a} for c, a in zip(cells, accuracies)]}
    (out / "summary.json").write_text(json.dumps(summary))
    return run


def test_records_pool_seeds_score_against_the_baseline_and_keep_other_data_apart(tmp_path):
    runs = tmp_path / "runs"
    _scored_run(runs, "OADN", "oadn", 0, [0.9, 0.9, 0.8, 0.9, 0.7, 0.5])
    _scored_run(runs, "OADN", "oadn", 1, [0.9, 0.9, 0.8, 0.9, 0.7, 0.5])
    _scored_run(runs, "Baseline (GAP)", "baseline", 0, [0.9, 0.8, 0.6, 0.8, 0.4, 0.5])
    _scored_run(runs, "OADN", "oadn", 0, [0.6] * 6, training="copy-b")  # the same method on another copy
    out = tmp_path / "board"
    result = CliRunner().invoke(app, ["leaderboard", str(runs), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    records = [json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))]
    assert len(records) == 3
    oadn = next(r for r in records if r["method"] == "OADN" and r["seeds"] == [0, 1])
    # eyes (0.1 + 0.2) / (0.2 + 0.4) = 0.5, mouth (0.1 + 0.3) / (0.2 + 0.6) = 0.5, swap 0.5 / 0.5 = 1
    assert oadn["moe"] == pytest.approx(100 * (0.5 + 0.5 + 1) / 3)
    assert oadn["baseline"]["method"] == "Baseline (GAP)"
    assert oadn["relative_robustness"] == pytest.approx(np.mean([0.9, 0.8, 0.9, 0.7, 0.5]) / 0.9)
    other = next(r for r in records if r["method"] == "OADN" and r["seeds"] == [0] and r["clean_accuracy"] < 0.7)
    assert other["moe"] is None and other["baseline"] is None  # no baseline was trained on copy B
    assert other["key"]["training_data"] != oadn["key"]["training_data"]
    baseline = next(r for r in records if r["method"] == "Baseline (GAP)")
    assert baseline["moe"] == pytest.approx(100.0)
    table = pd.read_csv(out / "leaderboard.csv", keep_default_na=False)
    assert table["Method"].iloc[0] == "OADN"  # best mOE first
    published = table[table["Source"] == "published"]
    assert set(published["Method"]) == {"OADN (published)", "RAN (published)"}
    assert "84.57" in set(published["Published acc %"])  # Occlusion-FERPlus, Table 5
    page = (out / "index.html").read_text()
    assert 'class="sortable"' in page and "addEventListener('click'" in page and 'class="published"' in page
    assert "| OADN " in (out / "leaderboard.md").read_text()


def test_a_reports_root_names_the_methods_of_the_runs_its_manifests_point_to(tmp_path):
    runs = tmp_path / "elsewhere"
    run = _scored_run(runs, "OADN", "oadn", 0, [0.9] * 6)
    report = tmp_path / "reports" / "suite"
    report.mkdir(parents=True)
    pd.DataFrame({"run_dir": [str(run)], "method": ["OADN (our name)"]}).to_csv(report / "manifest.csv", index=False)
    out = tmp_path / "board"
    result = CliRunner().invoke(app, ["leaderboard", str(tmp_path / "reports"), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    assert record["method"] == "OADN (our name)" and record["runs"] == [str(run.resolve())]


def test_nothing_scored_another_protocol_definition_and_a_foreign_file_are_named(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no run scored on a protocol" in one_named_line(
        CliRunner().invoke(app, ["leaderboard", str(empty), "--no-progress"]), 1)
    runs = tmp_path / "runs"
    _scored_run(runs, "OADN", "oadn", 0, [0.9] * 6)
    monkeypatch.setitem(PROTOCOLS, GRID.name, Protocol(GRID.name, ("eyes",), (0.3,), (), "backend"))
    result = CliRunner().invoke(app, ["leaderboard", str(runs), "--no-progress", "--out", str(tmp_path / "b")])
    assert "scored under another definition of 'small-grid'" in " ".join(result.output.split())
    monkeypatch.setitem(PROTOCOLS, GRID.name, GRID)
    board = tmp_path / "mine"
    board.mkdir()
    (board / "leaderboard.md").write_text("my own notes")
    result = CliRunner().invoke(app, ["leaderboard", str(runs), "--out", str(board), "--no-progress"])
    assert "refusing to overwrite leaderboard.md" in one_named_line(result, 1)
    assert (board / "leaderboard.md").read_text() == "my own notes"


PLUGIN_METHOD = """
from oadn.models.baseline import GapClassifier
from oadn.models.registry import register_model


@register_model("my-gap")
class MyGap(GapClassifier):
    pass
"""


def test_a_plugin_methods_runs_are_read_with_its_plugin(tmp_path, isolate_registries):
    import yaml

    from oadn.models.registry import MODELS

    isolate_registries(MODELS)
    plugin = tmp_path / "my_gap.py"
    plugin.write_text(PLUGIN_METHOD)
    runs = tmp_path / "runs"
    run = _scored_run(runs, "Mine", "baseline", 0, [0.9, 0.8, 0.7, 0.8, 0.6, 0.5])
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["model"]["name"] = "my-gap"  # a run of the plugin's method, as train --plugin wrote it
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    unknown = CliRunner().invoke(app, ["leaderboard", str(runs), "--out", str(tmp_path / "a"), "--no-progress"])
    assert "'my-gap': unknown method" in one_named_line(unknown, 2) and "--plugin" in unknown.output
    result = CliRunner().invoke(app, ["leaderboard", str(runs), "--out", str(tmp_path / "b"), "--no-progress",
                                      "--plugin", str(plugin)])
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "b" / "records").glob("*.json")]
    assert record["method"] == "Mine" and record["model"] == "my-gap"
