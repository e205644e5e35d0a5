"""The paper's Fig. 8 in every suite report: a seeded sample of faces where our OADN and each compared method
disagree, both ways, drawn from thumbnails the suite run keeps per test column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from oadn.cli import app
from oadn.report.manifest import ScoredRow
from oadn.report.qualitative import PER_SIDE, pick_faces, read_thumbnails, thumbnail_name

TINY = {
    "data": {"name": "synthetic", "options": {"train_size": 140, "test_size": 70, "seed": 3}, "image_size": 32,
             "test_splits": ["test_clean"]},
    "model": {"backbone": "cnn-tiny"},
    "train": {"epochs": 1, "batch_size": 16, "lr": 0.05, "lr_milestones": [1], "eval_batch_size": 64},
}


def _row(ids: list[str], correct: list[bool]) -> ScoredRow:
    n = len(ids)
    return ScoredRow(np.array(ids), np.zeros(n, int), np.array(correct), ["a", "b"], ["a", "b"], np.zeros((2, 2)))


def test_picks_are_seeded_and_both_ways():
    ids = [f"f{i:02d}" for i in range(30)]
    oadn = _row(ids, [i % 2 == 0 for i in range(30)])
    other = _row(ids, [i % 3 == 0 for i in range(30)])
    picks = pick_faces({"OADN": oadn, "RAN": other}, "OADN")
    assert picks == pick_faces({"OADN": oadn, "RAN": other}, "OADN")  # a fixed, seeded sample
    right = [p.image_id for p in picks if p.oadn_right]
    wrong = [p.image_id for p in picks if not p.oadn_right]
    assert len(right) == len(wrong) == PER_SIDE
    assert all(int(i[1:]) % 2 == 0 and int(i[1:]) % 3 != 0 for i in right)  # OADN right, RAN wrong
    assert all(int(i[1:]) % 2 == 1 and int(i[1:]) % 3 == 0 for i in wrong)  # the reverse
    same = pick_faces({"OADN": oadn, "copy": _row(ids, list(oadn.correct))}, "OADN")
    assert same == []  # no disagreement, nothing to show


@pytest.mark.slow
def test_a_suite_keeps_the_picked_faces_small_and_its_report_draws_them(tmp_path):
    suite = tmp_path / "s.yaml"
    columns = [{"name": "clean", "split": "test_clean"},
               {"name": "eyes 30%", "dataset": "occluded", "split": "test_clean",
                "options": {"base": "synthetic", "kind": "eyes", "area": 0.3, "probability": 1.0,
                            "scores": "oracle"}}]
    suite.write_text(yaml.safe_dump({
        "name": "tiny", "description": "Tiny suite", "seeds": [0], "base": TINY,
        "methods": {"OADN": {"model": {"name": "oadn"}}, "Baseline": {"model": {"name": "baseline"}}},
        "experiments": [{"id": "exp", "title": "Tiny", "config": {"data": {"name": "synthetic"}},
                         "columns": columns}]}))
    report = tmp_path / "rep"
    args = ["run", "--suite", str(suite), "--runs-root", str(tmp_path / "runs"), "--report-dir", str(report),
            "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = pd.read_csv(report / "manifest.csv")
    for column in ("clean", "eyes 30%"):
        faces = report / thumbnail_name("exp", column)
        assert faces.is_file() and faces.stat().st_size < 120_000
        thumbs = read_thumbnails(faces)
        assert thumbs["images"].shape[1:] == (64, 64, 3) and thumbs["points"].shape[1:] == (24, 3)
        rows = manifest[manifest["column"] == column].set_index("method")
        hits = {m: pd.read_parquet(rows.loc[m, "predictions"]).set_index("image_id") for m in ("OADN", "Baseline")}
        right = {m: (h["label"] == h["pred_prediction"]) for m, h in hits.items()}
        for image_id in thumbs["image_ids"]:  # every kept face is one the two methods disagree on
            assert right["OADN"][image_id] != right["Baseline"][image_id]
    occluded = read_thumbnails(report / thumbnail_name("exp", "eyes 30%"))
    clean = read_thumbnails(report / thumbnail_name("exp", "clean"))
    assert (occluded["points"][..., 2] == 0).any()  # oracle scores: the covered points are dropped
    figures = sorted(p.name for p in (report / "figures").glob("disagreements_*.png"))
    assert len(figures) == 2
    assert "where OADN and another method disagree" in (report / "index.html").read_text()
    assert "figures/disagreements_" in (report / "results.md").read_text()
    assert "bytes of faces in 2 file(s)" in " ".join(result.output.split())
    again = CliRunner().invoke(app, ["report", str(report), "--no-print"])  # renders from disk, faces kept
    assert again.exit_code == 0, again.output
    assert (report / thumbnail_name("exp", "clean")).is_file() and len(list((report / "figures").glob(
        "disagreements_*.png"))) == 2
    assert clean["threshold"] == np.float32(0.6)
