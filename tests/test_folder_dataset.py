"""The `folder` data set (a user's own class folders) and decoding of every supported pixel mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import oadn.preprocess.prepare as prepare_module
from helpers_data import ConstantLandmarker
from oadn.data.adapters.common import load_image
from oadn.data.cli import app as datasets_app
from oadn.data.faces import BadImageError
from oadn.data.images import ImageDecodeError, decode_rgb
from oadn.data.prepared.source import open_prepared_split
from oadn.data.registry import get_dataset
from oadn.preprocess.prepare import prepare


def _face(value: int = 120) -> np.ndarray:
    image = np.full((40, 40, 3), value, np.uint8)
    image[10:30, 10:30] = 255 - value
    return image


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """happy/ (PNG + 16-bit grayscale PNG), Sad/ (TIFF, grayscale JPEG), neural/ (typo of neutral), a text file."""
    root = tmp_path / "faces"
    for name in ("happy", "Sad", "neural"):
        (root / name).mkdir(parents=True)
    Image.fromarray(_face()).save(root / "happy" / "a.png")
    Image.fromarray((np.arange(1600).reshape(40, 40) * 40).astype(np.uint16)).save(root / "happy" / "deep.png")
    Image.fromarray(_face(60)).save(root / "Sad" / "b.tif")
    Image.fromarray(_face(90)[..., 0]).save(root / "Sad" / "c.jpg")
    Image.fromarray(_face(200)).save(root / "neural" / "d.bmp")
    (root / "Sad" / "notes.txt").write_text("not an image")
    return root


def test_sixteen_bit_grayscale_is_scaled_not_white(tmp_path: Path):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    rgb = decode_rgb(tmp_path / "g16.png")
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 1, 128, 255])
    assert (rgb[..., 0] == rgb[..., 2]).all()
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(ImageDecodeError, match="float.tif: unsupported pixel mode 'F'"):
        decode_rgb(tmp_path / "float.tif")
    with pytest.raises(BadImageError, match="unsupported pixel mode"):
        load_image(tmp_path / "float.tif", "float")


@pytest.mark.parametrize("limit", [1000, 3000])  # 64 x 64 is over twice 1000 (Pillow raises), under twice 3000 (warns)
def test_decompression_bomb_is_an_unreadable_image(tmp_path: Path, monkeypatch, limit):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(ImageDecodeError, match="decompression-bomb") as caught:
        decode_rgb(tmp_path / "big.png")
    assert caught.value.reason.startswith("larger than")  # the reason alone, for bad_images.csv


def test_class_folders_map_by_name_and_synonym(folder: Path):
    adapter = get_dataset("folder")
    df = adapter.index(folder)
    assert adapter.splits == ("test",) and set(df["split"]) == {"test"}
    names = {row.image_id: adapter.classes[row.label] for row in df.itertuples()}
    assert names == {"happy/a.png": "happiness", "happy/deep.png": "happiness", "Sad/b.tif": "sadness",
                     "Sad/c.jpg": "sadness", "neural/d.bmp": "neutral"}
    subset = get_dataset("folder", classes="happy,sad,neutral")
    assert subset.classes == ("happiness", "sadness", "neutral")
    assert sorted(subset.index(folder)["label"]) == [0, 0, 1, 1, 2]


def test_unknown_folder_and_wrong_layout_are_named_errors(folder: Path):
    (folder / "joyous").mkdir()
    with pytest.raises(ValueError, match=r"joyous.*not an expression class"):
        get_dataset("folder").index(folder)
    with pytest.raises(ValueError, match=r"neutral.*not among this protocol's classes"):
        get_dataset("folder", classes="happy,sad").index(folder)
    split_root = folder.parent / "split"
    (split_root / "train" / "angry").mkdir(parents=True)
    (split_root / "test" / "angry").mkdir(parents=True)
    Image.fromarray(_face()).save(split_root / "train" / "angry" / "x.png")
    Image.fromarray(_face()).save(split_root / "test" / "angry" / "y.png")
    with pytest.raises(ValueError, match="layout=splits"):
        get_dataset("folder").index(split_root)
    df = get_dataset("folder", layout="splits").index(split_root)
    assert sorted(zip(df["split"], df["image_id"])) == [("test", "test/angry/y.png"), ("train", "train/angry/x.png")]


def test_check_counts_and_no_usable_image_is_an_error(folder: Path, tmp_path: Path):
    runner = CliRunner()
    listing = tmp_path / "problems.txt"
    ok = runner.invoke(datasets_app, ["check", "folder", "--root", str(folder), "--problems-file", str(listing)])
    assert ok.exit_code == 0, ok.output
    assert "OK: folder" in ok.output and "5 usable images" in ok.output
    assert "1 x not an image file" in ok.output and "notes.txt" in listing.read_text()
    empty = tmp_path / "empty"
    (empty / "happy").mkdir(parents=True)
    (empty / "happy" / "broken.png").write_bytes(b"not a png")
    bad = runner.invoke(datasets_app, ["check", "folder", "--root", str(empty), "--problems-file", str(listing)])
    assert bad.exit_code == 1, bad.output
    assert "NOT USABLE" in bad.output and "no usable image" in bad.output and "broken.png" in bad.output


def test_prepare_and_read_a_folder_as_a_test_set(folder: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(prepare_module, "make_backend", lambda spec, **kw: ConstantLandmarker())
    adapter = get_dataset("folder", aligned="true")
    summary = prepare(adapter, folder, landmarks="fake", cache_dir=tmp_path)
    assert summary.status_counts == {"ok": 5}
    source = open_prepared_split(adapter, folder, "test", image_size=32, cache_dir=tmp_path)
    records = {source[i].image_id: source[i] for i in range(len(source))}
    deep = records["happy/deep.png"].image
    assert deep.shape == (32, 32, 3) and 0 < deep.mean() < 250  # the 16-bit face is not all white


def test_exif_orientation_is_applied_at_decode(tmp_path: Path):
    """A phone JPEG stored sideways (4 wide x 2 high, EXIF orientation 6: rotate 90 degrees clockwise to view)
    decodes upright: 2 wide x 4 high, the stored top-left pixel now at the top right."""
    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:20, :20] = 255  # a white block at the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    rgb = decode_rgb(tmp_path / "phone.jpg")
    assert rgb.shape == (80, 40, 3)
    assert rgb[:20, -20:].mean() > 200 and rgb[:20, :20].mean() < 50


def test_the_class_set_comes_from_the_class_folders_present_unless_classes_is_given(tmp_path: Path, monkeypatch):
    """A CK+-style set (no neutral folder, a contempt one) is a set of its own classes, so a run trained on 8
    classes scores it on those, predictions restricted to them; an explicit classes option still wins."""
    root = tmp_path / "lab"
    for name in ("contempt", "happy", "Sad"):
        (root / name).mkdir(parents=True)
        Image.fromarray(_face(len(name) * 20)).save(root / name / "a.png")
    adapter = get_dataset("folder").at_root(root)
    assert adapter.classes == ("happiness", "sadness", "contempt")  # in the canonical order
    assert sorted(adapter.index(root)["label"]) == [0, 1, 2]
    assert get_dataset("folder", classes="8").at_root(root).classes == get_dataset("ferplus").classes
    assert get_dataset("folder", classes="happy,sad,contempt,neutral").at_root(root).classes == (
        "happiness", "sadness", "neutral", "contempt")
    splits = tmp_path / "splits"
    for split, name in (("train", "angry"), ("test", "happy")):
        (splits / split / name).mkdir(parents=True)
    assert get_dataset("folder", layout="splits").at_root(splits).classes == ("happiness", "anger")

    from oadn.config import build_config
    from oadn.engine.evaluate import resolve_evaluation

    config = build_config(overrides=["data.name=ferplus", "data.root=/nowhere"])  # an 8-class run
    spec = resolve_evaluation(tmp_path / "run", config, "folder", {}, None, root)
    assert spec.describe()["scored_classes"] == ["happiness", "sadness", "contempt"] and spec.describe()["restricted"]
    assert spec.restrict_to == [3, 4, 7]  # of the 8 canonical classes the run was trained on
    result = CliRunner().invoke(datasets_app, ["check", "folder", "--root", str(root), "--no-verify-images",
                                               "--problems-file", str(tmp_path / "p.txt")])
    assert result.exit_code == 0 and "neutral" not in result.output and "contempt" in result.output
