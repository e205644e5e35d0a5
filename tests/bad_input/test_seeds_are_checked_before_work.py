"""Seeds are checked before any work: a suite or ablation listing one seed twice, and ``--seeds`` below 1, are
usage errors (exit 2) naming what is wrong, never a raw FileExistsError after training or an IndexError."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from helpers import one_named_line, suite_file
from oadn.cli import app

runner = CliRunner()


def test_a_suite_with_a_seed_twice_is_refused_before_training(tmp_path):
    path = suite_file(tmp_path / "s.yaml")
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "seeds": [0, 0]}))
    result = runner.invoke(app, ["run", "--suite", str(path), "--runs-root", str(tmp_path / "runs"),
                                 "--report-dir", str(tmp_path / "report"), "--no-progress"])
    text = one_named_line(result, 2)
    assert str(path) in text and "seeds = [0, 0]: expected a non-empty list of integers >= 0 without repeats" in text
    assert not (tmp_path / "runs").exists() and not (tmp_path / "report").exists()


def test_an_ablation_with_a_seed_twice_is_refused(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump({"param": "T", "values": [0.5, 0.6], "seeds": [1, 1]}))
    text = one_named_line(runner.invoke(app, ["ablate", "--sweep", str(path), "--dry-run"]), 2)
    assert "seeds = [1, 1]" in text and "without repeats" in text


@pytest.mark.parametrize("command", ["run", "ablate"])
@pytest.mark.parametrize("count", ["0", "-1"])
def test_seeds_below_one_are_a_usage_error(tmp_path, command, count):
    target = ["--suite", str(suite_file(tmp_path / "s.yaml"))] if command == "run" else ["--param", "T",
                                                                                          "--values", "0.5"]
    result = runner.invoke(app, [command, *target, "--seeds", count, "--dry-run",
                                 "--runs-root", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "--seeds" in result.output and "Traceback" not in result.output and "IndexError" not in result.output
