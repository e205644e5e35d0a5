"""Without a bar a command prints none: ``pack``, ``datasets check`` and the stores built deep in the data layer
too (that every command with a bar takes ``--progress/--no-progress``, and that the flag reaches those stores, is
tested over the whole command line in tests/test_cli_policy.py)."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from helpers_ferplus import write_ferplus
from oadn.cli import app
from oadn.data.registry import get_dataset
from oadn.preprocess.prepare import prepare

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


def _tiny_suite(path: Path, image_size: int) -> Path:
    path.write_text(yaml.safe_dump({
        "name": f"bars-{image_size}", "base": {
            "data": {"name": "ferplus", "image_size": image_size, "test_splits": ["test"]},
            "model": {"backbone": "cnn-tiny"}, "train": {"epochs": 1, "batch_size": 8}},
        "methods": {"Baseline": {"model": {"name": "baseline"}}},
        "experiments": [{"id": "fer", "root": "ferplus"}],
    }))
    return path


def test_a_store_built_deep_in_the_data_layer_follows_the_commands_flag(tmp_path):
    """The aligned faces are stored the first time a size is read, far below any command: --no-progress hides
    that bar too, and without it the bar is drawn."""
    root, cache = tmp_path / "ferplus", tmp_path / "cache"
    landmarks = write_ferplus(root)
    prepare(get_dataset("ferplus"), root, landmarks=f"file:{landmarks}", cache_dir=cache)

    def run(image_size: int, *flags: str):
        return runner.invoke(app, ["run", "--suite", str(_tiny_suite(tmp_path / f"s{image_size}.yaml", image_size)),
                                   "--runs-root", str(tmp_path / "runs"), "--report-dir", str(tmp_path / "report"),
                                   "--cache-dir", str(cache), "--root", f"ferplus={root}", *flags],
                             terminal_width=200)

    quiet = run(32, "--no-progress")
    assert quiet.exit_code == 0, quiet.output
    assert "aligning" not in quiet.output
    shown = run(40)
    assert shown.exit_code == 0, shown.output
    assert "aligning 8 faces once (40 px)" in shown.output  # one store per split of 8 faces
