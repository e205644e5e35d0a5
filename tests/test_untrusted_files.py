"""Files from elsewhere run no code: every torch file the tool reads is loaded as tensors and plain values only
(``weights_only=True``), and one that is more is refused in one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from helpers import tiny_config
from oadn.cli import app
from oadn.common.files import UnsafeTorchFileError, load_torch
from oadn.data.adapters.synthetic import SyntheticDataset
from oadn.engine.resume import CheckpointDamaged
from oadn.engine.train import train_run

runner = CliRunner()


class Interrupt(Exception):
    pass


class Payload:
    """Unpickling it writes a marker file: a stand-in for a crafted file's code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "payload ran"))


def kill_in_second_epoch(epoch: int, step: int) -> None:
    if epoch == 1 and step == 1:
        raise Interrupt


def crafted(path: Path, marker: Path, base: dict | None = None) -> None:
    """``path`` rewritten as a torch file holding ``base`` plus a payload object."""
    torch.save({**(base or {}), "extra": Payload(marker)}, path)


@pytest.fixture()
def interrupted(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    with pytest.raises(Interrupt):
        train_run(tiny_config("model.backbone=cnn-tiny"), run, progress=False, step_hook=kill_in_second_epoch)
    return run


def test_the_tool_writes_checkpoints_that_load_weights_only(interrupted: Path):
    checkpoint = torch.load(interrupted / "checkpoint.pt", weights_only=True)
    assert checkpoint["state"]["epoch"] == 1 and "config" in checkpoint


def test_a_crafted_checkpoint_is_refused_on_resume_and_its_code_never_runs(interrupted: Path, tmp_path: Path):
    marker = tmp_path / "marker.txt"
    saved = torch.load(interrupted / "checkpoint.pt", weights_only=True)
    crafted(interrupted / "checkpoint.pt", marker, saved)
    with pytest.raises(CheckpointDamaged, match=r"checkpoint\.pt: refused: it holds Python objects"):
        train_run(None, interrupted, resume=True, progress=False)
    result = runner.invoke(app, ["train", "--resume", str(interrupted), "--no-progress"])
    assert result.exit_code == 1 and "refused" in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if "error:" in line]) == 1
    assert not marker.exists()


def test_a_crafted_best_pt_is_refused_by_evaluate(tmp_path: Path):
    run = tmp_path / "run"
    train_run(tiny_config("model.backbone=cnn-tiny", "train.epochs=1"), run, progress=False)
    marker = tmp_path / "marker.txt"
    crafted(run / "best.pt", marker, torch.load(run / "best.pt", weights_only=True))
    result = runner.invoke(app, ["evaluate", str(run), "--split", "test_clean", "--no-progress"])
    assert result.exit_code == 1 and "best.pt: refused" in result.output and "Traceback" not in result.output
    assert not marker.exists()


def test_a_crafted_visibility_model_is_refused_by_prepare_and_the_occluded_data_set(tmp_path: Path):
    from oadn.data.landmarks.visibility import VisibilityNet, VisibilityScorer, save_model

    good = tmp_path / "good.pt"
    save_model(VisibilityNet(8, 4), {"image_size": 32, "width": 8, "embed": 4}, good)
    assert VisibilityScorer.load(good).image_size == 32  # what fit-visibility writes loads weights-only
    marker = tmp_path / "marker.txt"
    crafted(tmp_path / "bad.pt", marker, torch.load(good, weights_only=True))
    with pytest.raises(UnsafeTorchFileError, match=r"bad\.pt: refused"):
        VisibilityScorer.load(tmp_path / "bad.pt")
    root = tmp_path / "faces"
    for label in ("happy", "sad"):
        (root / label).mkdir(parents=True)
    result = runner.invoke(app, ["prepare", "folder", "--root", str(root), "--landmarks", "dlib",
                                 "--visibility", str(tmp_path / "bad.pt"), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code != 0 and "refused" in result.output and "Traceback" not in result.output
    assert not marker.exists()


@pytest.mark.slow
def test_a_crafted_fit_visibility_checkpoint_is_refused_on_resume(tmp_path: Path):
    from oadn.preprocess.visibility_fit import FitSettings, fit_visibility

    data = SyntheticDataset(train_size=30, test_size=28, seed=2)
    train, test = (data.open_split(split, root=None, image_size=32) for split in ("train", "test_clean"))
    settings = FitSettings(dataset="synthetic", image_size=32, samples=10, eval_samples=20, epochs=1, batch_size=16)
    out = tmp_path / "vis.pt"
    fit_visibility(train, test, settings, out, progress=False, log=lambda *_: None)
    work = out.with_name(out.name + ".work")
    assert sorted(p.name for p in work.iterdir()) == ["checkpoint.pt", "eval_holdout.npz", "eval_seen.npz",
                                                       "train.npz"]
    marker = tmp_path / "marker.txt"
    crafted(work / "checkpoint.pt", marker, load_torch(work / "checkpoint.pt"))
    with pytest.raises(UnsafeTorchFileError, match=r"checkpoint\.pt: refused"):
        fit_visibility(train, test, settings, out, progress=False, log=lambda *_: None)
    assert not marker.exists()
