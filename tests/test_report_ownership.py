"""A report owns only the files it wrote: it never deletes or overwrites anything else in
its folder, says so when it refuses, and a failed render leaves the previous report as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import oadn.report.suite_report as suite_report
from helpers import suite_file
from oadn.cli import app
from oadn.report import render_suite_report
from oadn.report.output import MARKER, ReportFolderError

pytestmark = pytest.mark.slow  # each test renders a suite report with figures

runner = CliRunner()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_render_refuses_to_overwrite_a_users_files_and_deletes_none(suite_dir: Path):
    (suite_dir / "suite.json").unlink()  # not a report folder yet: only the user's files and a manifest
    (suite_dir / "results.md").write_text("my notes\n")
    (suite_dir / "figures").mkdir()
    (suite_dir / "figures" / "mine.png").write_bytes(b"my figure")
    before = snapshot(suite_dir)
    with pytest.raises(ReportFolderError, match=r"refusing to overwrite results\.md: not written by a report"):
        render_suite_report(suite_dir, resamples=50)
    assert snapshot(suite_dir) == before  # nothing deleted, nothing half-written
    result = runner.invoke(app, ["report", str(suite_dir), "--no-print"])
    assert result.exit_code == 1 and "refusing to overwrite results.md" in result.output


def test_a_render_replaces_only_its_own_files(suite_dir: Path):
    render_suite_report(suite_dir, resamples=50)
    owned = set(json.loads((suite_dir / MARKER).read_text())["files"])
    assert {"results.md", "index.html", "manifest.csv", "suite.json"} <= owned
    figures = sorted(p.name for p in (suite_dir / "figures").glob("confusion_*resnet-18*.png"))
    assert figures, "ResNet-18 has a confusion matrix"
    (suite_dir / "figures" / "mine.png").write_bytes(b"my figure")  # the user's, added after the render
    (suite_dir / "notes.txt").write_text("mine")
    manifest = pd.read_csv(suite_dir / "manifest.csv")
    manifest[manifest["method"] != "ResNet-18"].to_csv(suite_dir / "manifest.csv", index=False)
    render_suite_report(suite_dir, resamples=50)
    assert not list((suite_dir / "figures").glob("confusion_*resnet-18*.png"))  # its own stale figure: gone
    assert (suite_dir / "figures" / "mine.png").read_bytes() == b"my figure"
    assert (suite_dir / "notes.txt").read_text() == "mine"
    assert not list(suite_dir.glob(".render-*"))


def test_a_failed_render_leaves_the_previous_report(suite_dir: Path, monkeypatch):
    render_suite_report(suite_dir, resamples=50)
    before = snapshot(suite_dir)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(suite_report, "plot_confusion_matrix", broken)
    with pytest.raises(OSError, match="no space left on the device holding .*the previous report is intact"):
        render_suite_report(suite_dir, resamples=50)
    assert snapshot(suite_dir) == before and not list(suite_dir.glob(".render-*"))


def test_the_reports_index_of_the_parent_folder_is_left_alone_when_it_is_the_users(suite_dir: Path):
    mine = suite_dir.parent / "index.html"
    mine.write_text("<html>my home page</html>")
    render_suite_report(suite_dir, resamples=50)
    assert mine.read_text() == "<html>my home page</html>"
    mine.unlink()
    render_suite_report(suite_dir, resamples=50)
    assert "mini/index.html" in mine.read_text()


def test_run_refuses_a_report_folder_of_other_files_before_training(tmp_path: Path):
    folder = tmp_path / "paper"
    folder.mkdir()
    (folder / "results.md").write_text("my draft")
    suite = suite_file(tmp_path / "s.yaml")
    result = runner.invoke(app, ["run", "--suite", str(suite), "--runs-root", str(tmp_path / "runs"),
                                 "--report-dir", str(folder), "--no-progress"])
    assert result.exit_code == 1 and "refusing to overwrite results.md" in result.output
    assert not (tmp_path / "runs").exists() and (folder / "results.md").read_text() == "my draft"
    assert sorted(p.name for p in folder.iterdir()) == ["results.md"]


def test_train_refuses_a_run_dir_holding_other_files(tmp_path: Path):
    from helpers import tiny_config
    from oadn.engine.train import train_run

    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "metrics.json").write_text('{"mine": 1}')
    with pytest.raises(FileExistsError, match=r"holds files that are not a run's \(metrics\.json\)"):
        train_run(tiny_config("train.epochs=1"), folder, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json"]
    assert (folder / "metrics.json").read_text() == '{"mine": 1}'
    empty = tmp_path / "empty"
    empty.mkdir()
    train_run(tiny_config("train.epochs=1", "model.backbone=cnn-tiny"), empty, progress=False)
    assert (empty / "metrics.json").is_file()
