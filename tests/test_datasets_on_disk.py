"""RAF-DB, AffectNet, FED-RO, the joint set and user lists, on tiny copies written here in the real formats."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers_affectnet import AFFECTNET_HEADER, LANDMARKS, write_affectnet, write_jpeg
from oadn.data.adapters.common import load_image
from oadn.data.cli import app
from oadn.data.faces import BadImageError
from oadn.data.registry import get_dataset
from oadn.data.sampling import class_balanced_weights


@pytest.fixture
def rafdb(tmp_path: Path) -> Path:
    root = tmp_path / "rafdb"
    lines = ["train_00001.jpg 5", "train_00002.jpg 1", "train_00003.jpg 7", "test_0001.jpg 4", "test_0002.jpg 2",
             "test_0003.jpg 3", "test_0004.jpg 9", "train_00004.jpg", "test_0005.jpg 6", "train_00001.jpg 5"]
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for i, stem in enumerate(["train_00001", "train_00002", "train_00003", "test_0001", "test_0002", "test_0003"]):
        write_jpeg(root / "Image" / "aligned" / f"{stem}_aligned.jpg", seed=i, truncate=stem == "test_0002")
    return root  # test_0005 has a label but no image; Image/original is missing


def test_rafdb_index_and_check(rafdb: Path):
    adapter = get_dataset("rafdb")
    with pytest.raises(ValueError, match=r"list_patition_label.txt:7: unknown label '9'"):
        adapter.index(rafdb)
    report = adapter.check(rafdb)
    where = {(Path(p.file).name, p.line): p for p in report.problems}
    assert where[("list_patition_label.txt", 7)].severity == "error"
    assert "expected '<train|test>_NNNN.jpg" in where[("list_patition_label.txt", 8)].message
    assert where[("list_patition_label.txt", 10)].severity == "warning"  # duplicate, kept once
    assert "truncated" in where[("test_0002_aligned.jpg", None)].message
    assert "file not found" in where[("test_0005_aligned.jpg", None)].message
    assert not report.ok
    assert report.counts.loc["train", "total"] == 3 and report.counts.loc["test", "total"] == 2
    assert report.counts.loc["train", "sadness"] == 1 and report.counts.loc["test", "happiness"] == 1
    # without decoding, the truncated file counts as present
    assert get_dataset("rafdb").check(rafdb, verify_images=False).counts.loc["test", "total"] == 3


def test_rafdb_fixed_copy_indexes(rafdb: Path):
    label_file = rafdb / "EmoLabel" / "list_patition_label.txt"
    label_file.write_text("\n".join(line for line in label_file.read_text().splitlines() if line[-1:] in "1234567"))
    df = get_dataset("rafdb").index(rafdb)
    assert set(df["image_id"]) >= {"train_00001", "test_0001"}
    assert dict(zip(df["image_id"], df["label"]))["train_00001"] == 4  # RAF-DB 5 (Sadness) -> canonical sadness
    with pytest.raises(FileNotFoundError, match=r"Image/original"):
        get_dataset("rafdb", images="original").index(rafdb)


def test_affectnet_protocols_and_problems(tmp_path: Path):
    root = tmp_path / "affectnet"
    write_affectnet(root)
    report = get_dataset("affectnet", num_classes=8).check(root)
    lines = {p.line: p.message for p in report.problems if p.file.endswith("training.csv")}
    assert "unknown expression code '12'" in lines[5]
    assert "facial_landmarks" in lines[6] and "face_y='x'" in lines[7] and "expected 9" in lines[8]
    assert any(p.file.endswith(f"{'2' * 56}.JPG") for p in report.problems)  # listed image not on disk
    assert report.counts.loc["train", "contempt"] == 1 and report.counts.loc["test", "total"] == 1
    with pytest.raises(ValueError, match=r"training.csv:5"):
        get_dataset("affectnet").index(root)


def test_affectnet_index_columns(tmp_path: Path):
    root = tmp_path / "affectnet"
    write_affectnet(root, header_in_validation=True)
    csv_path = root / "Manually_Annotated_file_lists" / "training.csv"
    csv_path.write_text("\n".join(csv_path.read_text().splitlines()[:4]
                                  + csv_path.read_text().splitlines()[-1:]) + "\n")
    df7 = get_dataset("affectnet", num_classes=7).index(root)
    df8 = get_dataset("affectnet", num_classes=8).index(root)
    assert len(df7) == 4 and len(df8) == 5  # contempt only in the 8-class protocol; code 9 in neither
    row = df7.set_index("image_id").loc[f"1/{'a' * 56}.jpg"]
    assert row["label"] == 3 and row["split"] == "train"  # AffectNet 1 (Happy) -> canonical happiness
    assert list(row["face_box"]) == [10, 12, 90, 94] and len(row["landmarks68"]) == 136
    assert set(df7["split"]) == {"train", "test"}


@pytest.mark.slow
def test_affectnet_300k_rows_index_quickly(tmp_path: Path):
    root = tmp_path / "big"
    (root / "Manually_Annotated_Images").mkdir(parents=True)
    (root / "Manually_Annotated_file_lists").mkdir()
    codes = np.random.default_rng(0).integers(0, 11, 300_000)
    body = "".join(f"{i % 1000}/{i:056x}.jpg,10,12,200,210,{LANDMARKS},{c},0.5,-0.25\n" for i, c in enumerate(codes))
    (root / "Manually_Annotated_file_lists" / "training.csv").write_text(AFFECTNET_HEADER + "\n" + body)
    (root / "Manually_Annotated_file_lists" / "validation.csv").write_text(AFFECTNET_HEADER + "\n")
    start = time.perf_counter()
    df = get_dataset("affectnet", num_classes=8).index(root)
    print(f"\nAffectNet index of 300,000 CSV rows: {time.perf_counter() - start:.1f} s")
    assert len(df) == int((codes < 8).sum())


def write_fedro(root: Path) -> None:
    for i, folder in enumerate(["anger", "disgust", "fear", "happy", "neural", "sad"]):  # no surprise folder
        for j in range(2):
            write_jpeg(root / folder / f"{folder}_{j}.jpg", seed=10 * i + j, truncate=(folder, j) == ("fear", 1))
    (root / "happy" / "notes.txt").write_text("not an image")


def test_fedro(tmp_path: Path):
    root = tmp_path / "fedro"
    write_fedro(root)
    (root / "Contempt").mkdir()  # an expression name, but not one of FED-RO's 7 classes
    report = get_dataset("fedro").check(root)
    messages = [str(p) for p in report.problems]
    assert any("missing class folder for surprise" in m for m in messages)
    assert any("Contempt" in m and "unknown class folder (expected one of surprise" in m for m in messages)
    assert any("fear_1.jpg" in m and "unusable image" in m for m in messages)
    assert any("found 11 usable images of the 400 published" in m for m in messages)
    assert report.counts.loc["test", "neutral"] == 2 and not report.ok
    (root / "Contempt").rmdir()
    write_jpeg(root / "Surprise" / "s.jpg")
    df = get_dataset("fedro").index(root)
    assert len(df) == 13 and set(df.loc[df["image_id"].str.startswith("neural/"), "label"]) == {6}


def test_joint_rafdb_affectnet(tmp_path: Path, rafdb: Path):
    label_file = rafdb / "EmoLabel" / "list_patition_label.txt"
    label_file.write_text("train_00001.jpg 5\ntest_0001.jpg 4\n")
    write_affectnet(tmp_path / "affectnet")
    csv_path = tmp_path / "affectnet" / "Manually_Annotated_file_lists" / "training.csv"
    csv_path.write_text("\n".join(csv_path.read_text().splitlines()[:3]) + "\n")
    df = get_dataset("rafdb+affectnet").index(tmp_path)
    assert sorted(df.loc[df["split"] == "train", "image_id"]) == [f"affectnet/1/{'a' * 56}.jpg", "rafdb/train_00001"]
    assert set(df["source"]) == {"rafdb", "affectnet"} and df["label"].max() < 7


def test_user_list_and_ran_list_over_rafdb(tmp_path: Path, rafdb: Path):
    (rafdb / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 5\ntest_0001.jpg 4\ntest_0003.jpg 3\ntest_0005.jpg 6\n")
    user_list = tmp_path / "mine.txt"
    user_list.write_text("3/test_0001_aligned.jpg\r\ntest_0003_aligned 2 1\r\ntest_0001_aligned 3 4\r\n"
                         "test_0999_aligned 1 1\r\n5/test_0005_aligned.jpg\r\n")
    adapter = get_dataset("subset", parent="rafdb", list_path=user_list)
    with pytest.warns(UserWarning, match="2 list entries"):
        df = adapter.index(rafdb)
    assert sorted(df["image_id"]) == ["test_0001", "test_0003", "test_0005"]
    report = adapter.check(rafdb, verify_images=False)
    lines = {p.line: p.message for p in report.problems if p.file == str(user_list)}
    assert "duplicate" in lines[3] and "matches no rafdb test image" in lines[4]
    # a missing image is skipped by prepare and training: a warning, the rest stays usable
    assert any(p.file.endswith("test_0005_aligned.jpg") and p.severity == "warning" for p in report.problems)
    assert report.counts.loc["test", "total"] == 2
    shipped = get_dataset("occlusion-rafdb")  # the packaged RAN list: of this tiny copy it names test_0003 only
    with pytest.warns(UserWarning, match="734 list entries"):
        assert list(shipped.index(rafdb)["image_id"]) == ["test_0003"]
    assert "duplicate entry 'test_2464_aligned'" in str(shipped.check(rafdb, verify_images=False).problems)
    user_list.write_text("test_0999_aligned\n")
    with pytest.raises(ValueError, match="no entry matches"):
        adapter.index(rafdb)


def test_load_image_raises_bad_image_error(tmp_path: Path):
    write_jpeg(tmp_path / "cut.jpg", truncate=True)
    with pytest.raises(BadImageError, match="truncated"):
        load_image(tmp_path / "cut.jpg", "cut")
    with pytest.raises(BadImageError, match="file not found"):
        load_image(tmp_path / "none.jpg", "none")


def test_class_balanced_weights():
    labels = np.array([0, 0, 0, 1, 2, 2])
    weights = class_balanced_weights(labels)
    assert np.isclose(weights.sum(), 1.0)
    assert np.allclose([weights[labels == c].sum() for c in range(3)], 1 / 3)


def test_cli_list_and_check(tmp_path: Path, rafdb: Path):
    runner = CliRunner()
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0
    for name in ("ferplus", "pose45-affectnet", "occlusion-rafdb", "rafdb+affectnet", "fedro", "subset"):
        assert name in listed.output
    result = runner.invoke(app, ["check", "rafdb", "--root", str(rafdb)])
    assert result.exit_code == 1
    assert "list_patition_label.txt:7" in result.output and "NOT USABLE" in result.output
    missing = runner.invoke(app, ["check", "fedro", "--root", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "missing directory" in missing.output
    wrong = runner.invoke(app, ["check", "rafdb", "--root", str(rafdb), "-o", "label_mode=majority"])
    assert wrong.exit_code == 2 and "label_mode" in wrong.output
