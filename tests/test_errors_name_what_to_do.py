"""Every weak case has a clear, named outcome: errors the tool names never come in a
traceback, damaged files are named with what to do (a full disk is tested on a real file system in
tests/bad_input/), suite and ablation files are typed, degenerate images are a per-image problem, and checks come
before work."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

import oadn.models.backbones as backbones_module
from helpers import TINY_OVERRIDES, one_named_line, suite_file, tiny_config
from oadn.cli import app
from oadn.engine.train import train_run
from oadn.models.pretrained import PretrainedWeightsError

runner = CliRunner()


def train_args(*extra: str) -> list[str]:
    return ["train", "--no-progress"] + [a for o in [*TINY_OVERRIDES, "train.epochs=1", *extra] for a in ("--set", o)]


def test_offline_pretrained_weights_and_an_unknown_timm_name_are_named_errors(tmp_path, monkeypatch):
    def offline(name):
        raise PretrainedWeightsError(f"pretrained weights {name}: not in the Hugging Face cache and downloads are off")

    monkeypatch.setattr(backbones_module, "fetch_timm_weights", offline)
    text = one_named_line(runner.invoke(app, train_args("model.backbone=timm:resnet18", "model.pretrained=imagenet",
                                                        "data.image_size=64") + ["--run-dir", str(tmp_path / "a")]), 1)
    assert "downloads are off" in text and not (tmp_path / "a").exists()
    text = one_named_line(runner.invoke(app, train_args("model.backbone=timm:nosuchnet")
                                        + ["--run-dir", str(tmp_path / "b")]), 2)
    assert "config.model.backbone: timm has no model 'nosuchnet'" in text


def test_damaged_metrics_manifest_and_predictions_are_named_with_what_to_do(tmp_path, suite_dir):
    run = tmp_path / "run"
    train_run(tiny_config("train.epochs=1", "model.backbone=cnn-tiny"), run, progress=False)
    (run / "metrics.json").write_text('{"selected_ep')
    text = one_named_line(runner.invoke(app, ["train", "--resume", str(run), "--no-progress"]), 1)
    assert "metrics.json: damaged, cannot be read" in text and f"oadn-bench train --resume {run}" in text
    (run / "metrics.json").unlink()  # as the message says: the test splits are scored again from best.pt
    result = runner.invoke(app, ["train", "--resume", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "metrics.json").read_text())["splits"]["test_clean"]["prediction"]["count"] == 42

    manifest = pd.read_csv(suite_dir / "manifest.csv")
    Path(manifest.loc[0, "predictions"]).write_bytes(b"PAR1 not really")
    text = one_named_line(runner.invoke(app, ["report", str(suite_dir), "--no-print"]), 1)
    assert f"{manifest.loc[0, 'predictions']}: damaged, cannot be read" in text
    (suite_dir / "manifest.csv").write_bytes(b"\xff\xfe\x00garbage\x00")
    text = one_named_line(runner.invoke(app, ["report", str(suite_dir), "--no-print"]), 1)
    assert "manifest.csv: damaged, cannot be read" in text and "run the suite again" in text


@pytest.mark.parametrize("key, value, named", [
    ("seeds", "abc", "seeds = 'abc': expected a non-empty list of integers >= 0"),
    ("seeds", [0, -1], "seeds = [0, -1]"),
    ("notes", 3, "notes = 3: expected a list of strings"),
    ("description", ["x"], "description = ['x']: expected a string"),
    ("methods", {"OADN": 3}, "methods.OADN = 3: expected a mapping"),
])
def test_every_list_and_scalar_of_a_suite_file_is_typed(tmp_path, key, value, named):
    path = suite_file(tmp_path / "s.yaml")
    values = yaml.safe_load(path.read_text())
    values[key] = value
    path.write_text(yaml.safe_dump(values))
    text = one_named_line(runner.invoke(app, ["run", "--suite", str(path), "--dry-run"]), 2)
    assert named in text and str(path) in text


def test_ablation_files_are_typed_and_a_param_the_sweep_does_not_vary_is_refused(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump({"name": "a", "param": "T", "values": 0.3, "seeds": [0]}))
    text = one_named_line(runner.invoke(app, ["ablate", "--sweep", str(path), "--dry-run"]), 2)
    assert "values = 0.3: expected a non-empty list of values" in text
    text = one_named_line(runner.invoke(app, ["ablate", "--sweep", "synthetic-T", "--param", "K", "--dry-run"]), 2)
    assert "--param K: ablation 'synthetic-T' varies T (model.threshold), not model.regions" in text
    result = runner.invoke(app, ["ablate", "--sweep", "synthetic-T", "--param", "T", "--dry-run",
                                 "--runs-root", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output  # the sweep's own parameter, named again, is fine


def test_datasets_check_names_an_empty_label_file_and_is_usable_with_a_broken_image(tmp_path):
    root = tmp_path / "ferplus"
    source = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ferplus"
    if not source.is_dir():
        pytest.skip("the shared FERPlus copy is not here")
    for folder in ("FER2013Train", "FER2013Valid", "FER2013Test"):
        (root / folder).mkdir(parents=True)
        lines = (source / folder / "label.csv").read_text().splitlines()[:20]
        (root / folder / "label.csv").write_text("\n".join(lines) + "\n")
        for line in lines:
            name = line.split(",")[0]
            (root / folder / name).write_bytes((source / folder / name).read_bytes())
    (root / "FER2013Valid" / "label.csv").write_text("")
    from oadn.data.registry import get_dataset

    Path(get_dataset("ferplus").index(root)["path"].iloc[0]).write_bytes(b"not a png")  # one image the protocol uses
    result = runner.invoke(app, ["datasets", "check", "ferplus", "--root", str(root),
                                 "--problems-file", str(tmp_path / "p.txt")])
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "FER2013Valid/label.csv: lists no image: split 'val' is empty" in text and "OK: ferplus" in text
    assert "unusable image (prepare and training skip it)" in text


@pytest.mark.slow
def test_evaluate_reads_the_cache_the_run_recorded_before_oadn_cache(tmp_path, monkeypatch):
    from oadn.data.registry import get_dataset
    from oadn.preprocess.prepare import prepare

    faces = get_dataset("synthetic", train_size=21, test_size=14, seed=5)
    root = tmp_path / "rafdb"
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    lines, rows = [], []
    for split, source in (("train", faces.open_split("train", image_size=48)),
                          ("test", faces.open_split("test_clean", image_size=48))):
        for i in range(len(source)):
            stem = f"{split}_{i + 1:05d}" if split == "train" else f"test_{i + 1:04d}"
            Image.fromarray(source[i].image).save(root / "Image" / "aligned" / f"{stem}_aligned.jpg")
            lines.append(f"{stem}.jpg {source[i].label + 1}")
            rows.append({"name": f"{stem}_aligned.jpg", **{f"{a}{k}": source[i].landmarks[k, j]
                                                           for j, a in enumerate("xys") for k in range(68)}})
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    pd.DataFrame(rows).to_csv(tmp_path / "lm.csv", index=False)
    cache = tmp_path / "cache"
    prepare(get_dataset("rafdb"), root, landmarks=f"file:{tmp_path / 'lm.csv'}", align="aligned", cache_dir=cache)
    run = tmp_path / "run"
    overrides = [o for o in TINY_OVERRIDES if not o.startswith("data.options")]
    overrides += ["train.epochs=1", "data.name=rafdb", f"data.root={root}", "data.test_splits=[test]",
                  "model.backbone=cnn-tiny"]
    result = runner.invoke(app, ["train", "--no-progress"] + [a for o in overrides for a in ("--set", o)]
                           + ["--run-dir", str(run), "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("OADN_CACHE", str(tmp_path / "elsewhere"))
    result = runner.invoke(app, ["evaluate", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output

    real_access = os.access  # a read-only run directory (as root, chmod alone would not make it one)
    monkeypatch.setattr(os, "access", lambda path, mode: (not mode & os.W_OK or not str(path).startswith(str(run)))
                        and real_access(path, mode))
    before = sorted(p.name for p in (run / "evaluations").rglob("*"))
    result = runner.invoke(app, ["evaluate", str(run), "--no-progress"])
    text = one_named_line(result, 1)
    assert "is not writable" in text and sorted(p.name for p in (run / "evaluations").rglob("*")) == before


def test_train_on_an_empty_folder_names_what_is_missing(tmp_path):
    empty = tmp_path / "ferplus"
    empty.mkdir()
    text = one_named_line(runner.invoke(app, ["train", "--no-progress", "--set", "data.name=ferplus", "--set",
                                              f"data.root={empty}", "--run-dir", str(tmp_path / "run")]), 1)
    assert "FER2013Train: missing directory" in text and "run: oadn-bench prepare" not in text


def test_degenerate_images_are_named_per_image_and_prepare_goes_on(tmp_path, monkeypatch):
    import oadn.preprocess.prepare as prepare_module
    from helpers_data import ConstantLandmarker
    from oadn.data.registry import get_dataset

    monkeypatch.setattr(prepare_module, "make_backend", lambda spec, **kw: ConstantLandmarker())
    root = tmp_path / "faces"
    (root / "happy").mkdir(parents=True)
    (root / "sad").mkdir()
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(root / "happy" / "dot.png")
    Image.fromarray(np.full((1000, 2, 3), 90, np.uint8)).save(root / "sad" / "line.png")
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(root / "sad" / "plain.png")
    summary = prepare_module.prepare(get_dataset("folder"), root, landmarks="fake", cache_dir=tmp_path / "cache")
    assert summary.total == 3 and summary.status_counts["unreadable"] == 2
    assert summary.reasons == {"degenerate image: a side under 20 pixels, no face fits": 2,
                               **{k: v for k, v in summary.reasons.items() if "degenerate" not in k}}


def test_prepare_without_progress_prints_no_bar(tmp_path, monkeypatch):
    import oadn.preprocess.prepare as prepare_module
    from helpers_data import ConstantLandmarker

    monkeypatch.setattr(prepare_module, "make_backend", lambda spec, **kw: ConstantLandmarker())
    (tmp_path / "faces" / "happy").mkdir(parents=True)
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(tmp_path / "faces" / "happy" / "a.png")
    result = runner.invoke(app, ["prepare", "folder", "--root", str(tmp_path / "faces"), "-o", "aligned=true",
                                 "--landmarks", "fake", "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "prepare folder" not in result.output and "1 images: 0 already prepared, 1 processed" in result.output
