"""Another copy of the data, never the old results: a run records the fingerprints of
the data it saw; a suite reuses it for the same data at another path, trains a new run for other data, and an
evaluated column is scored again when its copy changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from helpers import TINY
from oadn.cli import app
from oadn.data.fingerprint import index_fingerprints
from oadn.data.registry import get_dataset

runner = CliRunner()


def fewer_test_images(source: Path, target: Path, keep: int) -> Path:
    """A copy of ``source`` whose label file keeps only the first ``keep`` test images."""
    shutil.copytree(source, target)
    labels = target / "EmoLabel" / "list_patition_label.txt"
    lines = labels.read_text().splitlines()
    tests = [line for line in lines if line.startswith("test_")]
    labels.write_text("\n".join([line for line in lines if line.startswith("train_")] + tests[:keep]) + "\n")
    return target


@pytest.fixture()
def suite(tmp_path: Path) -> Path:
    base = {**TINY, "data": {"image_size": 32, "test_splits": ["test"]}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": "copies", "base": base, "methods": {"OADN": {"model": {"name": "oadn"}}},
        "experiments": [{"id": "raf", "root": "rafdb", "config": {"data": {"name": "rafdb"}},
                         "columns": [{"name": "own test", "split": "test"},
                                     {"name": "other copy", "dataset": "rafdb", "split": "test", "root": "other"}]}],
    }))
    return path


def run(suite: Path, tmp_path: Path, landmarks: Path, rafdb: Path, other: Path):
    args = ["run", "--suite", str(suite), "--root", f"rafdb={rafdb}", "--root", f"other={other}",
            "--landmarks", f"file:{landmarks}", "--cache-dir", str(tmp_path / "cache"),
            "--runs-root", str(tmp_path / "runs"), "--report-dir", str(tmp_path / "rep"), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = pd.read_csv(tmp_path / "rep" / "manifest.csv").set_index("column")
    counts = {column: json.loads((Path(row.run_dir) / "metrics.json").read_text())["splits"]["test"]["prediction"]
              ["count"] if column == "own test" else len(pd.read_parquet(row.predictions))
              for column, row in manifest.iterrows()}
    return result.output, manifest, counts


def test_the_fingerprint_is_the_ids_and_labels_not_the_path(rafdb_copy, tmp_path):
    root, _, _ = rafdb_copy
    adapter = get_dataset("rafdb")
    moved = shutil.copytree(root, tmp_path / "moved")
    assert index_fingerprints(adapter.index(moved)) == index_fingerprints(adapter.index(root))
    fewer = fewer_test_images(root, tmp_path / "fewer", keep=8)
    a, b = index_fingerprints(adapter.index(root)), index_fingerprints(adapter.index(fewer))
    assert a["train"] == b["train"] and a["test"] != b["test"] and b["test"]["images"] == 8


@pytest.mark.slow
def test_a_suite_reuses_runs_for_the_same_data_only(rafdb_copy, suite, tmp_path):
    root, landmarks, _ = rafdb_copy
    output, first, counts = run(suite, tmp_path, landmarks, root, root)
    assert "1 ran" in output and counts == {"own test": 14, "other copy": 14}
    recorded = json.loads((Path(first.loc["own test", "run_dir"]) / "data.json").read_text())
    assert set(recorded["splits"]) == {"train", "test"} and recorded["splits"]["test"]["images"] == 14

    moved = shutil.copytree(root, tmp_path / "moved")  # the same data at another path: reused, not rescored
    output, again, counts = run(suite, tmp_path, landmarks, moved, moved)
    assert "1 reused" in output and "scoring" not in output and counts == {"own test": 14, "other copy": 14}
    assert again.loc["own test", "run_dir"] == first.loc["own test", "run_dir"]

    other = fewer_test_images(root, tmp_path / "other", keep=5)  # only the column's copy changed: scored again
    output, again, counts = run(suite, tmp_path, landmarks, moved, other)
    assert "1 reused" in output and "scoring" in output and counts == {"own test": 14, "other copy": 5}

    fewer = fewer_test_images(root, tmp_path / "fewer", keep=8)  # the run's own data changed: a new run
    output, changed, counts = run(suite, tmp_path, landmarks, fewer, fewer)
    assert "1 ran" in output and counts == {"own test": 8, "other copy": 8}
    new_dir = Path(changed.loc["own test", "run_dir"])
    assert new_dir != Path(first.loc["own test", "run_dir"]) and new_dir.name.startswith(
        Path(first.loc["own test", "run_dir"]).name + "-data")
    report = (tmp_path / "rep" / "results.csv").read_text()
    assert "n=14" not in report and "(n=8)" in (tmp_path / "rep" / "results.md").read_text()

    output, _, counts = run(suite, tmp_path, landmarks, root, root)  # back on the first copy: its run again
    assert "1 reused" in output and counts == {"own test": 14, "other copy": 14}


def test_resume_on_other_data_is_refused(rafdb_copy, tmp_path):
    from oadn.config import build_config
    from oadn.engine.train import train_run
    from oadn.preprocess.prepare import prepare

    root, landmarks, _ = rafdb_copy
    fewer = fewer_test_images(root, tmp_path / "fewer", keep=8)
    for copy in (root, fewer):
        prepare(get_dataset("rafdb"), copy, landmarks=f"file:{landmarks}", align="aligned",
                cache_dir=tmp_path / "cache")
    sets = ["data.name=rafdb", f"data.root={root}", f"data.split_options={{cache_dir: {tmp_path / 'cache'}}}",
            "data.image_size=32", "data.test_splits=[test]", "model.backbone=cnn-tiny", "train.epochs=2",
            "train.batch_size=8", "train.eval_batch_size=16"]

    class Stop(Exception):
        pass

    def stop(epoch, step):
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        train_run(build_config(overrides=sets), tmp_path / "run", progress=False, step_hook=stop)
    with pytest.raises(ValueError, match=r"trained on other data .*test: 14 images then, 8 now"):
        train_run(None, tmp_path / "run", resume=True, progress=False, changes=[f"data.root={fewer}"])
