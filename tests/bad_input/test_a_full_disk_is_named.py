"""A full disk is named for what it is, on a real small file system (a tmpfs the test mounts), not a mocked
error: saving a checkpoint, and drawing a report's figures, end in one line naming the file and the folder and
saying what was kept, never torch's ``enforce fail at inline_container.cc`` or a raw ``[Errno 28]``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from helpers import TINY_OVERRIDES, one_named_line, tiny_config
from oadn.cli import app
from oadn.common.files import TEMPORARY_GLOB
from oadn.engine.train import train_run

runner = CliRunner()
TINY_RUN = ("model.backbone=cnn-tiny", "train.epochs=1")


@pytest.fixture
def small_disk(tmp_path):
    """Mounts a tmpfs of the size asked at a fresh folder; unmounted afterwards. Mounting needs root (CI runs the
    tests as root); elsewhere the tests that need one are skipped, saying why."""
    mounted = []

    def mount(size: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode}): "
                        "a full disk is tested on a real file system only, which needs root")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:  # lazily when a file there is still open: the mount goes once it is closed
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)


def test_a_full_disk_while_saving_a_checkpoint_names_the_file_and_keeps_the_last(tmp_path, small_disk):
    sizing = tmp_path / "sizing"
    train_run(tiny_config(*TINY_RUN), sizing, progress=False)
    checkpoint, best = (sizing / "checkpoint.pt").stat().st_size, (sizing / "best.pt").stat().st_size
    small = sum(p.stat().st_size for p in sizing.iterdir() if p.is_file() and p.suffix != ".pt")
    # room for epoch 1's checkpoint and best.pt, not for epoch 2's checkpoint beside the first
    disk = small_disk(checkpoint + best + checkpoint // 2 + small + 64 * 1024)
    run = disk / "run"
    args = ["train", "--no-progress", "--run-dir", str(run)]
    args += [a for o in [*TINY_OVERRIDES, *TINY_RUN[:1], "train.epochs=2"] for a in ("--set", o)]
    text = one_named_line(runner.invoke(app, args), 1)
    assert f"no space left on the device holding {run} while writing checkpoint.pt" in text
    assert "the previous checkpoint.pt is intact" in text and "inline_container" not in text
    assert torch.load(run / "checkpoint.pt", weights_only=True)["state"]["epoch"] == 1
    assert not list(run.glob(TEMPORARY_GLOB))


def test_a_disk_too_full_for_the_first_checkpoint_says_nothing_was_written(small_disk):
    disk = small_disk(48 * 1024)
    run = disk / "run"
    with pytest.raises(OSError, match=f"no space left on the device holding {run} while writing checkpoint.pt "
                                      f"\\(nothing was written to {run / 'checkpoint.pt'}\\)"):
        train_run(tiny_config(*TINY_RUN), run, progress=False)


@pytest.mark.slow
def test_a_full_disk_while_drawing_a_report_names_the_folder_and_keeps_the_report(suite_dir, small_disk):
    disk = small_disk(96 * 1024)
    report = disk / "mini"
    report.mkdir()
    for name in ("manifest.csv", "suite.json"):
        shutil.copy(suite_dir / name, report / name)
    text = one_named_line(runner.invoke(app, ["report", str(report), "--no-print"]), 1)
    assert f"no space left on the device holding {report} while writing the report (figures/" in text
    assert "the previous report is intact" in text and "Errno" not in text
    assert sorted(p.name for p in report.iterdir()) == ["manifest.csv", "suite.json"]
