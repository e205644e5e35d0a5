"""A report folder's record of its files (``.oadn-report.json``) travels with the folder, so it is read as
untrusted data: a report replaces and removes only plain files inside its own folder, listed by a relative path
without ``..``; a record listing anything else is refused, naming it, and nothing is deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import one_named_line
from oadn.cli import app
from oadn.report.output import MARKER

pytestmark = pytest.mark.slow  # each test renders a suite report with figures

runner = CliRunner()


def rendered(folder: Path) -> dict:
    result = runner.invoke(app, ["report", str(folder), "--no-print"])
    assert result.exit_code == 0, result.output
    return json.loads((folder / MARKER).read_text())


@pytest.mark.parametrize("entry", ["../../victim.txt", "ABSOLUTE", "figures/../../../victim.txt", "./results.md"])
def test_a_record_listing_a_path_outside_its_folder_deletes_nothing(suite_dir, tmp_path, entry):
    victim = tmp_path / "victim.txt"
    victim.write_text("a researcher's own file")
    record = rendered(suite_dir)
    listed = str(victim) if entry == "ABSOLUTE" else entry
    record["files"].append(listed)
    (suite_dir / MARKER).write_text(json.dumps(record))
    text = one_named_line(runner.invoke(app, ["report", str(suite_dir), "--no-print"]), 1)
    assert f"{suite_dir / MARKER}: refused: it lists {listed!r}" in text
    assert victim.read_text() == "a researcher's own file"


def test_a_listed_file_behind_a_link_to_another_folder_is_not_deleted(suite_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "paper.tex").write_text("a draft")
    record = rendered(suite_dir)
    (suite_dir / "drafts").symlink_to(elsewhere, target_is_directory=True)
    record["files"].append("drafts/paper.tex")
    (suite_dir / MARKER).write_text(json.dumps(record))
    text = one_named_line(runner.invoke(app, ["report", str(suite_dir), "--no-print"]), 1)
    assert "drafts/paper.tex (a folder on its way leads out of" in text
    assert (elsewhere / "paper.tex").read_text() == "a draft"


def test_a_listed_folder_is_not_removed(suite_dir):
    record = rendered(suite_dir)
    (suite_dir / "mine").mkdir()
    (suite_dir / "mine" / "notes.md").write_text("notes")
    record["files"].append("mine")
    (suite_dir / MARKER).write_text(json.dumps(record))
    text = one_named_line(runner.invoke(app, ["report", str(suite_dir), "--no-print"]), 1)
    assert "mine (not a plain file)" in text and (suite_dir / "mine" / "notes.md").is_file()


def test_a_record_of_plain_relative_files_still_replaces_them(suite_dir):
    first = rendered(suite_dir)
    (suite_dir / "figures" / "old.png").write_bytes(b"png")
    first["files"].append("figures/old.png")
    (suite_dir / MARKER).write_text(json.dumps(first))
    second = rendered(suite_dir)
    assert "figures/old.png" not in second["files"] and not (suite_dir / "figures" / "old.png").exists()
