"""Names never escape their folder: a suite name, experiment id, method, column or run name that cannot be one
path component is a usage error naming the key, before anything is trained or written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from helpers import TINY_OVERRIDES, suite_file
from oadn.cli import app
from oadn.common.names import MAX_NAME_BYTES, name_problem, relative_path_problem
from oadn.experiments.planning import DataLocations, plan_suite
from oadn.experiments.suites import builtin_suites, check_names, load_suite

runner = CliRunner()


def test_name_rules():
    assert name_problem("OADN (ResNet-50, last stride 1)") == ""
    for bad in ("", " ", ".", "..", "a/b", "a\\b", "x" * (MAX_NAME_BYTES + 1), "é" * 33, 3):
        assert name_problem(bad), bad
    assert relative_path_problem("demo/exp/OADN/seed0") == ""
    for bad in ("../../x", "/abs", "a//b", "a/../b", "a/" + "x" * 300):
        assert relative_path_problem(bad), bad


@pytest.mark.parametrize("key, value", [
    ("name", "../../mypaper"), ("experiment", ".."), ("method", ".."), ("method", "m" * 300),
    ("column", "../c"), ("name", ""),
])
def test_a_bad_suite_name_is_a_usage_error_before_any_work(tmp_path, monkeypatch, key, value):
    monkeypatch.chdir(tmp_path)
    suite = suite_file(tmp_path / "s.yaml", **{key: value})
    result = runner.invoke(app, ["run", "--suite", str(suite), "--runs-root", "work/runs", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and repr(value)[:40] in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # nothing trained, nothing written


def test_set_name_cannot_leave_the_runs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--no-progress"] + [a for o in TINY_OVERRIDES for a in ("--set", o)]
    result = runner.invoke(app, args + ["--set", "name=../../x"])
    assert result.exit_code == 2 and "config.name" in result.output and "'..'" in result.output
    suite = suite_file(tmp_path / "s.yaml")
    result = runner.invoke(app, ["run", "--suite", str(suite), "--set", "name=../../x", "--dry-run"])
    assert result.exit_code == 2 and "config.name" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_every_builtin_suite_has_valid_names():
    for name in builtin_suites():
        check_names(load_suite(name))


def test_plan_suite_checks_names_of_suites_built_in_code(tmp_path):
    suite = load_suite(str(suite_file(tmp_path / "s.yaml")))
    suite.experiments[0].methods = {"..": {}}
    with pytest.raises(ValueError, match=r"experiments\[0\] method '\.\.'"):
        plan_suite(suite, tmp_path / "runs", DataLocations())
