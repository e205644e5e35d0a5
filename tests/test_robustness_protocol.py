"""The occlusion-robustness protocol: the severity grid, scoring a finished run on it without retraining, and the
score (relative robustness, mOE against the GAP baseline, its interval) computed as the docs define it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import one_named_line, tiny_config
from oadn.cli import app
from oadn.config import build_config
from oadn.engine import robustness
from oadn.engine.robustness import PROTOCOLS, Protocol, base_of, cell_request, load_correct, protocol_cells
from oadn.engine.train import train_run
from oadn.report.robustness_score import GridScores, grid_score, mean_occlusion_error

#: a grid small enough to score in seconds, with the built-in one's shape: two kinds at two severities, a swap
SMALL = Protocol("small-grid", ("eyes", "mouth"), (0.1, 0.5), ("swap-mouth",), "backend", 0, "test grid")


def test_the_built_in_grid_is_every_painted_kind_at_five_severities_and_the_two_swaps():
    cells = protocol_cells(PROTOCOLS["occlusion-grid"])
    assert len(cells) == 1 + 14 * 5 + 2
    assert [c.name for c in cells[:3]] == ["clean", "sunglasses@10%", "sunglasses@20%"]
    assert [c.name for c in cells[-2:]] == ["swap-mouth", "swap-eyes"]
    assert {c.severity for c in cells if c.kind not in ("clean", "swap-mouth", "swap-eyes")} == {0.1, 0.2, 0.3, 0.4,
                                                                                                   0.5}
    assert PROTOCOLS["occlusion-grid"].scores == "backend" and PROTOCOLS["occlusion-grid-oracle"].scores == "oracle"


def test_a_run_trained_on_occluded_faces_is_scored_on_its_base_data_sets_clean_faces():
    config = build_config(overrides=["data.name=occluded", "data.options={base: ferplus, kind: [eyes, mouth], area: "
                                     "any, probability: 0.5, scores: oracle, train_limit: 600, label_mode: majority}"])
    base, options = base_of(config)
    assert (base, options) == ("ferplus", {"label_mode": "majority"})
    dataset, cell = cell_request(protocol_cells(SMALL)[2], SMALL, base, options)
    assert dataset == "occluded" and cell == {"label_mode": "majority", "base": "ferplus", "kind": "eyes",
                                              "probability": 1.0, "scores": "backend", "occluder_seed": 0,
                                              "area": 0.5}


def _grid(kinds: dict[str, list[float]], clean: float, faces: int = 200) -> GridScores:
    """One seed whose accuracy on each cell is exactly as given (the first faces right)."""
    cells, rows = [{"name": "clean", "kind": "clean", "severity": None}], [clean]
    for kind, accuracies in kinds.items():
        for k, accuracy in enumerate(accuracies):
            cells.append({"name": f"{kind}{k}", "kind": kind, "severity": k})
            rows.append(accuracy)
    correct = np.array([[i < round(a * faces) for i in range(faces)] for a in rows])
    return GridScores(cells, correct[None], np.array([f"f{i:03d}" for i in range(faces)]))


def test_moe_is_the_mean_over_kinds_of_summed_errors_relative_to_the_baseline():
    baseline = _grid({"eyes": [0.8, 0.6], "swap": [0.5]}, clean=0.9)
    method = _grid({"eyes": [0.9, 0.8], "swap": [0.5]}, clean=0.9)
    score = grid_score(method, baseline, resamples=200)
    # eyes: (0.1 + 0.2) / (0.2 + 0.4) = 0.5; swap: 0.5 / 0.5 = 1; mean 0.75
    assert score["moe"] == pytest.approx(75.0)
    assert score["moe_ci"][0] < 75.0 < score["moe_ci"][1]
    assert score["relative_robustness"] == pytest.approx(np.mean([0.9, 0.8, 0.5]) / 0.9)
    assert score["per_kind"]["eyes"]["accuracy"] == pytest.approx([0.9, 0.8])
    assert grid_score(baseline, baseline, resamples=50)["moe_ci"] == pytest.approx([100.0, 100.0])
    errors = np.array([0.0, 0.1, 0.2, 0.5])
    assert mean_occlusion_error(errors, np.array([0.0, 0.2, 0.4, 0.5]), method.cells) == pytest.approx(75.0)
    assert grid_score(method, None)["moe"] is None


def test_the_interval_resamples_the_same_faces_for_every_cell_seed_and_the_baseline():
    rng = np.random.default_rng(0)
    baseline = _grid({"eyes": [0.7, 0.5]}, clean=0.9)
    noisy = GridScores(baseline.cells, rng.random((2, 3, 200)) < 0.6, baseline.image_ids)
    score = grid_score(noisy, baseline, resamples=400, seed=1)
    assert score["moe_ci"][0] < score["moe"] < score["moe_ci"][1]
    assert len(score["moe_per_seed"]) == 2
    # against the baseline's fixed errors the pooled mOE is the mean of the seeds' (linear in the errors)
    assert score["moe"] == pytest.approx(np.mean(score["moe_per_seed"]))
    again = grid_score(noisy, baseline, resamples=400, seed=1)
    assert again["moe_ci"] == score["moe_ci"]  # seeded


@pytest.fixture
def small_grid(monkeypatch):
    monkeypatch.setitem(PROTOCOLS, SMALL.name, SMALL)
    return SMALL


def test_evaluate_with_a_protocol_scores_every_cell_once_and_reuses_them(small_grid, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train_run(tiny_config("train.epochs=1", "model.backbone=cnn-tiny", "data.test_splits=[test_clean]"), run,
              progress=False)
    result = CliRunner().invoke(app, ["evaluate", str(run), "--protocol", SMALL.name, "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "robustness" / SMALL.name / "summary.json").read_text())
    assert [c["name"] for c in summary["cells"]] == ["clean", "eyes@10%", "eyes@50%", "mouth@10%", "mouth@50%",
                                                      "swap-mouth"]
    assert summary["split"] == "test_clean" and summary["base"] == "synthetic"
    correct, ids, labels = load_correct(run, SMALL.name)
    assert correct.shape == (6, 42) and len(ids) == len(labels) == 42
    assert [c["accuracy"] for c in summary["cells"]] == pytest.approx(correct.mean(axis=1).tolist())
    clean = json.loads((run / "metrics.json").read_text())["splits"]["test_clean"]["prediction"]["accuracy"]
    assert summary["cells"][0]["accuracy"] == pytest.approx(clean)  # the clean cell is the run's own test split
    calls = []
    original = robustness.evaluate_missing
    monkeypatch.setattr(robustness, "evaluate_missing", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = CliRunner().invoke(app, ["evaluate", str(run), "--protocol", SMALL.name, "--no-progress"])
    assert again.exit_code == 0 and len(calls) == 6
    assert "scoring" in result.output and "scoring" not in again.output  # every cell reused
    assert "unknown protocol 'nope'" in one_named_line(
        CliRunner().invoke(app, ["evaluate", str(run), "--protocol", "nope"]), 2)
    assert "drop --data and --option" in one_named_line(
        CliRunner().invoke(app, ["evaluate", str(run), "--protocol", SMALL.name, "--data", "ferplus"]), 2)


def test_a_swap_cell_carries_donors_and_a_painted_cell_is_painted_once_on_disk(small_grid, tmp_path):
    run = tmp_path / "run"
    train_run(tiny_config("train.epochs=1", "model.backbone=cnn-tiny", "data.test_splits=[test_clean]"), run,
              progress=False)
    summary = robustness.score_protocol(run, SMALL, progress=False, log=lambda _: None)
    swap = next(c for c in summary["cells"] if c["kind"] == "swap-mouth")
    predictions = pd.read_parquet(Path(run) / swap["predictions"])
    assert (predictions["donor"] >= 0).any()
    stores = sorted(p.name for p in (Path(os.environ["OADN_CACHE"]) / "occluded").iterdir())
    assert len(stores) == 5  # four painted cells and the swap, each painted once, kept beside the caches
