"""A suite file is shared like data: the code its ``plugins:`` list names runs only when the user says so on the
command line (``--allow-plugins``, or the same plugin with ``--plugin``); otherwise the suite is refused in one
line naming the file and the flag, before anything is imported, even under ``--dry-run``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from oadn.cli import app

runner = CliRunner()

EVIL = '''
from pathlib import Path
Path({marker!r}).write_text("the suite's plugin ran")
'''


@pytest.fixture
def shared_suite(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A suite file listing ``evil.py`` beside it, which writes a marker when imported."""
    marker = tmp_path / "marker.txt"
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "evil.py").write_text(EVIL.format(marker=str(marker)))
    suite = tmp_path / "shared" / "suite.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "shared", "plugins": ["evil.py"],
        "base": {"data": {"options": {"train_size": 70, "test_size": 21}, "image_size": 32,
                          "test_splits": ["test_clean"]},
                 "model": {"backbone": "cnn-tiny"}, "train": {"epochs": 1}},
        "methods": {"OADN": {"model": {"name": "oadn"}}},
    }))
    before = set(sys.modules)
    yield suite, marker
    for name in set(sys.modules) - before:
        if name.startswith("oadn_plugin_evil"):
            del sys.modules[name]


def dry_run(suite: Path, tmp_path: Path, *extra: str):
    return runner.invoke(app, ["run", "--suite", str(suite), "--dry-run", "--runs-root", str(tmp_path / "runs"),
                               *extra])


def test_a_suite_listing_a_plugin_is_refused_without_consent_and_runs_no_code(tmp_path, shared_suite):
    suite, marker = shared_suite
    result = dry_run(suite, tmp_path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    text = " ".join(result.output.split())
    assert f"{suite}: plugins: evil.py" in text and "--allow-plugins" in text
    assert str(suite.parent / "evil.py") in text
    assert not marker.exists()


def test_allow_plugins_runs_the_suites_plugins(tmp_path, shared_suite):
    suite, marker = shared_suite
    result = dry_run(suite, tmp_path, "--allow-plugins")
    assert result.exit_code == 0, result.output
    assert marker.exists()


def test_naming_the_same_plugin_with_plugin_is_consent(tmp_path, shared_suite, monkeypatch):
    suite, marker = shared_suite
    monkeypatch.chdir(suite.parent)
    result = dry_run(suite, tmp_path, "--plugin", "evil.py")
    assert result.exit_code == 0, result.output
    assert marker.exists()


def test_another_plugin_on_the_command_line_is_no_consent_for_the_suites(tmp_path, shared_suite):
    suite, marker = shared_suite
    (tmp_path / "mine.py").write_text("")
    result = dry_run(suite, tmp_path, "--plugin", str(tmp_path / "mine.py"))
    assert result.exit_code == 2, result.output
    assert "evil.py" in result.output and not marker.exists()


def test_an_included_suites_plugin_is_read_against_the_included_files_folder(tmp_path, shared_suite):
    suite, marker = shared_suite
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "evil.py").write_text("raise SystemExit('the wrong file was imported')\n")
    including = tmp_path / "mine" / "suite.yaml"
    including.write_text(yaml.safe_dump({"include": str(suite), "name": "mine"}))
    refused = dry_run(including, tmp_path)
    assert refused.exit_code == 2 and str(suite.parent / "evil.py") in " ".join(refused.output.split())
    allowed = dry_run(including, tmp_path, "--allow-plugins")
    assert allowed.exit_code == 0, allowed.output
    assert marker.read_text() == "the suite's plugin ran"  # shared/evil.py, not mine/evil.py
