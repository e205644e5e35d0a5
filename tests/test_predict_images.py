"""``predict`` and ``load_run(path).predict(images)``: a trained run on one's own image files, with the run's own
preprocessing, one named status per file that has no prediction, and overlays."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

import oadn
from helpers import one_named_line, tiny_config
from oadn.cli import app
from oadn.config import build_config
from oadn.data.registry import get_dataset
from oadn.engine.train import train_run
from oadn.preprocess.prepare import prepare

CLASSES = ("happiness", "sadness", "surprise")
#: FERPlus images of each class, by name (majority labels of FER2013Test), for a small real folder data set
PER_SPLIT = {"train": 8, "val": 2, "test": 3}


@pytest.fixture(scope="module")
def folder_run(shared_data: Path, tmp_path_factory) -> tuple[Path, Path, Path]:
    """A tiny OADN run trained on real FERPlus faces laid out as a ``folder`` data set (aligned crops), prepared
    with dlib: (run directory, data root, cache root)."""
    base = tmp_path_factory.mktemp("predict")
    root, cache = base / "faces", base / "cache"
    labels = pd.read_csv(shared_data / "ferplus" / "FER2013Train" / "label.csv", header=None)
    votes = labels.iloc[:, 2:10].to_numpy()
    names = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
    wanted = sum(PER_SPLIT.values())
    for label in CLASSES:
        column = names.index(label)
        rows = labels[(votes.argmax(axis=1) == column) & (votes.max(axis=1) >= 7)].head(wanted)
        files = iter(rows.iloc[:, 0])
        for split, count in PER_SPLIT.items():
            folder = root / split / label
            folder.mkdir(parents=True)
            for _ in range(count):
                name = next(files)
                shutil.copy(shared_data / "ferplus" / "FER2013Train" / name, folder / name)
    options = {"layout": "splits", "aligned": True}
    prepare(get_dataset("folder", **options), root, landmarks="dlib", cache_dir=cache)
    config = build_config(overrides=[
        "data.name=folder", "data.options={layout: splits, aligned: true}", f"data.root={root}",
        f"data.split_options={{cache_dir: {cache}}}", "data.val_split=val", "data.test_splits=[test]",
        "data.image_size=64", "model.backbone=cnn-tiny", "train.epochs=1", "train.batch_size=8", "train.lr=0.05",
        "train.cpu_amp=false"])
    run = base / "run"
    train_run(config, run, progress=False)
    return run, root, cache


def test_predict_uses_the_runs_own_preprocessing_and_matches_evaluate_on_the_same_faces(folder_run):
    run, root, _ = folder_run
    evaluated = pd.read_parquet(run / "predictions" / "test.parquet")
    trained = oadn.load_run(run)
    assert trained.landmark_spec() == "dlib"  # read from the run's prepared cache
    files = sorted((root / "test").rglob("*.png"))
    table = trained.predict(files, aligned=True)
    assert (table["status"] == "ok").all()
    assert list(table.columns[:9]) == ["file", "status", "reason", "box_x0", "box_y0", "box_x1", "box_y1",
                                       "predicted", "confidence"]
    by_id = {Path(i).name: np.asarray(s) for i, s in zip(evaluated["image_id"], evaluated["scores"])}
    fused = table[[f"p_{c}" for c in trained.classes]].to_numpy()
    for file, probabilities in zip(table["file"], fused):
        np.testing.assert_allclose(probabilities, by_id[Path(file).name], atol=1e-5)
    for branch in ("lab", "frb"):
        np.testing.assert_allclose(table[[f"{branch}_p_{c}" for c in trained.classes]].sum(axis=1), 1, atol=1e-5)
    assert table["kept_mask"].str.len().eq(24).all()
    assert (table["kept_points"] == table["kept_mask"].str.count("K")).all()
    assert table["kept_mask"].str.fullmatch("[K-]{24}").all()
    assert table["threshold"].eq(0.6).all()


def test_the_cli_names_each_file_without_a_face_and_predicts_the_others(folder_run, tmp_path):
    run, root, _ = folder_run
    photos = tmp_path / "photos"
    (photos / "empty").mkdir(parents=True)
    faces = sorted((root / "test").rglob("*.png"))[:2]
    for face in faces:  # photos where MTCNN can look for a face: the 48 px crops enlarged
        Image.open(face).convert("RGB").resize((192, 192), Image.BICUBIC).save(photos / f"big-{face.name}")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(photos / "tiny.png")
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(photos / "wall.png")  # no face in it
    (photos / "notes.txt").write_text("not an image: ignored inside a folder")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["predict", str(run), str(photos), str(photos / "empty"), "--out", str(out),
                                      "--overlay", "--no-progress", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "predictions.csv")
    status = dict(zip(table["file"].map(lambda f: Path(f).name), table["status"]))
    assert status["broken.jpg"] == "unreadable" and status["tiny.png"] == "unreadable"
    assert status["wall.png"] == "no_face" and status["empty"] == "empty_directory"
    assert "notes.txt" not in status
    reasons = dict(zip(table["file"].map(lambda f: Path(f).name), table["reason"]))
    assert "mtcnn" in reasons["wall.png"] and "a side under 20 pixels" in reasons["tiny.png"]
    output = " ".join(result.output.split())
    assert f"{photos / 'wall.png'}: no_face" in output and "without a prediction (named above)" in output
    ok = table[table["status"] == "ok"]
    assert len(ok) >= 1  # MTCNN finds a face in at least one enlarged FERPlus crop
    for row in ok.itertuples():  # a found face has its box on the file's pixels, probabilities that sum to 1
        assert row.box_x0 < 96 < row.box_x1 and row.box_y0 < 96 < row.box_y1 and row.box_x1 - row.box_x0 > 60
    np.testing.assert_allclose(ok[[c for c in ok.columns if c.startswith("p_")]].sum(axis=1), 1, atol=1e-5)
    overlays = sorted(p.name for p in (out / "overlays").iterdir())
    assert len(overlays) == len(table) and overlays[0].startswith("0000-")
    written = pd.read_csv(out / "predictions.csv", dtype=str, keep_default_na=False)  # counts as counts
    assert written.loc[written["status"] == "ok", "kept_points"].str.fullmatch(r"\d+").all()
    assert (written.loc[written["status"] != "ok", "kept_points"] == "").all()


def test_a_run_without_a_landmark_record_asks_for_one_and_nothing_predicted_exits_1(tmp_path):
    run = tmp_path / "run"
    train_run(tiny_config("train.epochs=1", "model.backbone=cnn-tiny", "data.image_size=64"), run, progress=False)
    image = tmp_path / "face.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(image)
    result = CliRunner().invoke(app, ["predict", str(run), str(image), "--out", str(tmp_path / "o"), "--no-progress"])
    assert "records no landmark backend" in one_named_line(result, 1)
    baseline = tmp_path / "baseline"  # a method without landmarks needs no backend
    train_run(tiny_config("train.epochs=1", "model.name=baseline", "model.backbone=cnn-tiny"), baseline,
              progress=False)
    result = CliRunner().invoke(app, ["predict", str(baseline), str(tmp_path / "nothing-here"), "--out",
                                      str(tmp_path / "o"), "--no-progress"])
    assert "no face predicted in 1 input(s)" in one_named_line(result, 1)
    table = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert table["status"].tolist() == ["unreadable"] and "file not found" in table["reason"][0]
    assert "no selected weights" in one_named_line(
        CliRunner().invoke(app, ["predict", str(tmp_path), str(image), "--no-progress"]), 1)

