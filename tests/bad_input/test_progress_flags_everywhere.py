"""Without a bar a command prints none: ``pack`` and ``datasets check`` too (that every command with a bar takes
``--progress/--no-progress`` is tested over the whole command line in tests/test_cli_policy.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from helpers_ferplus import write_ferplus
from oadn.cli import app

runner = CliRunner()


def test_pack_shows_its_bar_only_when_asked(tmp_path):
    root, cache = tmp_path / "ferplus", tmp_path / "cache"
    landmarks = write_ferplus(root)
    prepared = runner.invoke(app, ["prepare", "ferplus", "--root", str(root), "--landmarks", f"file:{landmarks}",
                                   "--cache-dir", str(cache), "--no-progress"])
    assert prepared.exit_code == 0, prepared.output
    args = ["pack", "ferplus", "--root", str(root), "--size", "48", "--cache-dir", str(cache)]
    quiet = runner.invoke(app, [*args, "--out", str(tmp_path / "a.pack"), "--no-progress"])
    assert quiet.exit_code == 0, quiet.output
    assert "pack ferplus" not in quiet.output and "24 faces at 48 px" in " ".join(quiet.output.split())
    shown = runner.invoke(app, [*args, "--out", str(tmp_path / "b.pack")], terminal_width=200)
    assert shown.exit_code == 0 and "pack ferplus" in shown.output and "24/24" in shown.output
    checked = runner.invoke(app, ["datasets", "check", "ferplus", "--root", str(root), "--no-progress",
                                  "--problems-file", str(tmp_path / "p.txt")])
    assert checked.exit_code == 0 and "OK: ferplus" in checked.output, checked.output
