"""The prepare pipeline end to end on a tiny on-disk data set the tests write: statuses, policies, resume, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import oadn.preprocess.prepare as prepare_module
from oadn.data import registry
from oadn.data.aligned_frame import apply_transform
from oadn.data.faces import BadImageError
from oadn.data.ibug68 import five_points as five_points_from_68
from oadn.data.landmarks.base import ImageLandmarkBackend
from oadn.data.on_disk import CheckReport, OnDiskDatasetAdapter
from oadn.data.prepared.cache import PreparedCache
from oadn.data.prepared.source import open_prepared_split
from oadn.preprocess.alignment import template_points
from oadn.preprocess.cli import prepare_command, show_landmarks_command
from oadn.preprocess.prepare import prepare

DATASET = "prepare-test-faces"


class TinyFaces(OnDiskDatasetAdapter):
    """Images listed in ``manifest.csv`` (name, split, label, aligned) next to them."""

    name = DATASET
    classes = ("happy", "sad")
    splits = ("train", "test")

    def index(self, root: Path) -> pd.DataFrame:
        frame = pd.read_csv(Path(root) / "manifest.csv")
        frame["image_id"] = frame["name"]
        frame["path"] = [str(Path(root) / n) for n in frame["name"]]
        return frame[["image_id", "path", "split", "label", "aligned"]]

    def check(self, root: Path, *, verify_images: bool = True) -> CheckReport:
        raise NotImplementedError("not needed by these tests")


class FakeLandmarker(ImageLandmarkBackend):
    """Deterministic points derived from the image (score 0.8); raises on call number ``fail_on`` if set."""

    name = "fake"
    description = "fake landmarker for tests"
    provides_scores = True

    def __init__(self, fail_on: int | None = None):
        self.calls = 0
        self.seen = 0
        self.fail_on = fail_on

    def predict(self, images, boxes):
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise KeyboardInterrupt("simulated kill")
        self.seen += len(images)
        out = []
        for image in images:
            grid = np.linspace(40, 180, 68, dtype=np.float32)
            shift = float(image.mean()) / 50
            out.append((np.stack([grid + shift, grid[::-1], np.full(68, 0.8, np.float32)], axis=1), "fake"))
        return out


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Four face crops of skimage's astronaut, a 48x48 grayscale face, a flat gray image and a broken file."""
    data = pytest.importorskip("skimage.data")
    base = tmp_path_factory.mktemp("tinyfaces")
    face = data.astronaut()[20:240, 110:330]
    rows = []
    for k in range(4):
        variant = face[:, ::-1] if k % 2 else face
        Image.fromarray(np.clip(variant.astype(int) + 10 * k, 0, 255).astype(np.uint8)).save(base / f"face{k}.png")
        rows.append((f"face{k}.png", "train" if k < 3 else "test", k % 2, k != 0))
    Image.fromarray(face).convert("L").resize((48, 48)).save(base / "gray48.png")
    rows.append(("gray48.png", "test", 0, True))
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(base / "flat.png")
    rows.append(("flat.png", "train", 1, False))
    (base / "broken.png").write_bytes(b"not a png")
    rows.append(("broken.png", "train", 0, True))
    pd.DataFrame(rows, columns=["name", "split", "label", "aligned"]).to_csv(base / "manifest.csv", index=False)
    return base


def _use_backend(monkeypatch, backend: ImageLandmarkBackend) -> None:
    monkeypatch.setattr(prepare_module, "make_backend", lambda spec, **kw: backend)


def test_statuses_and_failure_policies(root, tmp_path, monkeypatch):
    _use_backend(monkeypatch, FakeLandmarker())
    summary = prepare(TinyFaces(), root, landmarks="fake", cache_dir=tmp_path, chunk_size=3)
    assert summary.status_counts == {"ok": 5, "no_face": 1, "unreadable": 1}
    assert summary.failed == 2 and summary.processed == 7
    table = PreparedCache(summary.cache_dir).read().set_index("image_id")
    assert table.loc["face0.png", "detector"].startswith("mtcnn facenet-pytorch")
    assert table.loc["face1.png", "detector"] == "none (aligned crop)"
    assert "no face" in table.loc["flat.png", "reason"]

    keep = open_prepared_split(TinyFaces(), root, "train", image_size=64, cache_dir=tmp_path)
    assert list(keep.image_ids) == ["face0.png", "face1.png", "face2.png", "flat.png", "broken.png"]
    np.testing.assert_array_equal(keep.labels, [0, 1, 0, 1, 0])
    flat = keep[3]
    assert flat.image.shape == (64, 64, 3) and (flat.image == 128).all()  # the whole image, resized
    assert (flat.landmarks[:, 2] == 0).all()
    with pytest.raises(BadImageError):
        keep[4]
    drop = open_prepared_split(TinyFaces(), root, "train", image_size=64, cache_dir=tmp_path, policy="drop")
    assert list(drop.image_ids) == ["face0.png", "face1.png", "face2.png"]


def test_landmarks_follow_the_requested_size_and_gray_becomes_rgb(root, tmp_path, monkeypatch):
    _use_backend(monkeypatch, FakeLandmarker())
    prepare(TinyFaces(), root, landmarks="fake", cache_dir=tmp_path)
    big = open_prepared_split(TinyFaces(), root, "test", image_size=224, cache_dir=tmp_path)
    small = open_prepared_split(TinyFaces(), root, "test", image_size=112, cache_dir=tmp_path)
    gray_big, gray_small = big[1], small[1]
    assert gray_big.image_id == "gray48.png" and gray_small.image.shape == (112, 112, 3)
    assert (gray_small.image[..., 0] == gray_small.image[..., 2]).all()
    np.testing.assert_allclose(gray_small.landmarks[:, :2], (gray_big.landmarks[:, :2] + 0.5) / 2 - 0.5, atol=1e-4)
    np.testing.assert_allclose(gray_small.landmarks[:, 2], 0.8)


def test_resume_after_interruption_equals_an_uninterrupted_run(root, tmp_path, monkeypatch):
    _use_backend(monkeypatch, FakeLandmarker())
    whole = prepare(TinyFaces(), root, landmarks="fake", cache_dir=tmp_path / "a", chunk_size=2)

    resumed_dir = tmp_path / "b"
    first = prepare(TinyFaces(), root, landmarks="fake", cache_dir=resumed_dir, chunk_size=2, max_chunks=1)
    assert first.processed == 2
    _use_backend(monkeypatch, FakeLandmarker(fail_on=2))  # killed inside the next chunk but one
    with pytest.raises(KeyboardInterrupt):
        prepare(TinyFaces(), root, landmarks="fake", cache_dir=resumed_dir, chunk_size=2)
    partial = PreparedCache(first.cache_dir)
    assert len(partial.read()) == 4
    backend = FakeLandmarker()
    _use_backend(monkeypatch, backend)
    rest = prepare(TinyFaces(), root, landmarks="fake", cache_dir=resumed_dir, chunk_size=2)
    assert rest.processed == 3 and rest.already_done == 4
    again = prepare(TinyFaces(), root, landmarks="fake", cache_dir=resumed_dir, chunk_size=2)
    assert again.processed == 0 and backend.calls == 1  # only the last chunk needed the landmarker

    def table(summary):
        return PreparedCache(summary.cache_dir).read().sort_values("image_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(table(whole), table(rest))


def test_file_landmarks_drive_the_alignment(root, tmp_path):
    # a face whose five points are the template at half scale, shifted: alignment must undo exactly that
    five = template_points(224) * 0.5 + 40
    points = np.zeros((68, 3), np.float32)
    points[:, :2] = five.mean(0)
    points[36:42, :2], points[42:48, :2], points[30, :2], points[48, :2], points[54, :2] = five
    points[:, 2] = 0.5
    frame = pd.DataFrame([["face0.png", *points[:, 0], *points[:, 1], *points[:, 2]]],
                         columns=["name"] + [f"{a}{i}" for a in "xys" for i in range(68)])
    frame.to_csv(tmp_path / "lm.csv", index=False)
    summary = prepare(TinyFaces(), root, landmarks=f"file:{tmp_path / 'lm.csv'}", align="detect", cache_dir=tmp_path)
    assert summary.status_counts == {"ok": 1, "no_landmarks": 5, "unreadable": 1}
    source = open_prepared_split(TinyFaces(), root, "train", image_size=224, cache_dir=tmp_path, policy="drop")
    (record,) = [source[i] for i in range(len(source))]
    np.testing.assert_allclose(record.landmarks[:, 2], 0.5)
    np.testing.assert_allclose(five_points_from_68(record.landmarks), template_points(224), atol=1e-3)
    row = PreparedCache(summary.cache_dir).read().set_index("image_id").loc["face0.png"]
    matrix = np.asarray(row["transform"]).reshape(2, 3)
    np.testing.assert_allclose(apply_transform(matrix, points), record.landmarks, atol=1e-3)


@pytest.fixture
def registered(monkeypatch):
    """TinyFaces under a test-only name, for the commands that take a name; unregistered afterwards."""
    registry.list_datasets()  # load the built-in adapters first
    monkeypatch.setitem(registry.DATASETS._entries, DATASET, TinyFaces)


def test_cli_prepare_is_idempotent_and_show_landmarks_draws(root, tmp_path, monkeypatch, registered):
    _use_backend(monkeypatch, FakeLandmarker())
    app = typer.Typer()
    app.command("prepare")(prepare_command)
    app.command("show-landmarks")(show_landmarks_command)
    runner = CliRunner()
    args = ["prepare", DATASET, "--root", str(root), "--landmarks", "fake", "--cache-dir", str(tmp_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "7 processed now" in first.output and "no_face 1" in first.output and "keep-invisible" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "7 already prepared, 0 processed now" in second.output
    out = tmp_path / "grid.png"
    shown = runner.invoke(app, ["show-landmarks", DATASET, "--root", str(root), "--cache-dir", str(tmp_path),
                                "--split", "test", "--out", str(out), "-n", "2"])
    assert shown.exit_code == 0, shown.output
    assert Image.open(out).size[0] > 100


def test_cli_fan_without_weights_fails_before_any_image(root, tmp_path, monkeypatch, registered):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    app = typer.Typer()
    app.command("prepare")(prepare_command)
    app.command("show-landmarks")(show_landmarks_command)
    result = CliRunner().invoke(app, ["prepare", DATASET, "--root", str(root), "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 2 and "2DFAN4-cd938726ad.zip" in result.output.replace("\n", "")
    assert not (tmp_path / "c").exists()


def test_show_landmarks_on_the_synthetic_data_set(tmp_path):
    app = typer.Typer()
    app.command("prepare")(prepare_command)
    app.command("show-landmarks")(show_landmarks_command)
    out = tmp_path / "synthetic.png"
    result = CliRunner().invoke(app, ["show-landmarks", "synthetic", "--out", str(out), "-n", "4",
                                      "--image-size", "112"])
    assert result.exit_code == 0, result.output
    assert out.is_file()
