"""A packed data set reads back as the prepared copy it was made from: same faces, labels, subsets; trainable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from oadn.cli import app
from oadn.config import build_config
from oadn.data.faces import SubsetSource
from oadn.data.geometry import flip_landmarks
from oadn.data.prepared.source import open_prepared_split
from oadn.data.registry import get_dataset
from oadn.engine.loader import FaceDataset, to_device
from oadn.engine.train import train_run
from oadn.preprocess.pack import pack_dataset
from oadn.preprocess.prepare import prepare

FOLDERS = {"FER2013Train": 0, "FER2013Valid": 30_000, "FER2013Test": 32_300}
PER_FOLDER = 14


@pytest.fixture(scope="module")
def ferplus_copy(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny FERPlus copy in generate_training_data.py's layout (48 px gray PNGs, label.csv), prepared with
    landmarks from a file; returns (root, cache dir)."""
    base = tmp_path_factory.mktemp("ferplus-pack")
    root, cache = base / "ferplus", base / "cache"
    rng = np.random.default_rng(0)
    landmark_rows = []
    for folder, first in FOLDERS.items():
        (root / folder).mkdir(parents=True)
        lines = []
        for k in range(PER_FOLDER):
            name = f"fer{first + k:07d}.png"
            gradient = np.add.outer(np.arange(48), np.arange(48)) * (k + 1) % 256
            Image.fromarray((gradient + rng.integers(0, 20, (48, 48))).clip(0, 255).astype(np.uint8)).save(
                root / folder / name)
            votes = [0] * 10
            votes[k % 8] = 8  # a clear majority for class column k % 8
            lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, votes)))
            points = rng.uniform(4, 44, (68, 2))
            landmark_rows.append([name, *points[:, 0], *points[:, 1], *rng.uniform(0.2, 1.0, 68)])
        (root / folder / "label.csv").write_text("\n".join(lines) + "\n")
    columns = ["name"] + [f"{a}{i}" for a in "xys" for i in range(68)]
    pd.DataFrame(landmark_rows, columns=columns).to_csv(base / "lm.csv", index=False)
    prepare(get_dataset("ferplus"), root, landmarks=f"file:{base / 'lm.csv'}", cache_dir=cache)
    return root, cache


def test_a_pack_reads_back_as_its_prepared_copy(ferplus_copy, tmp_path):
    root, cache = ferplus_copy
    pack = tmp_path / "ferplus.pack"
    meta = pack_dataset(get_dataset("ferplus"), root, pack, size=48, cache_dir=cache)
    assert meta["channels"] == 1 and meta["count"] == 3 * PER_FOLDER
    assert meta["files"] == [f"{folder}/label.csv" for folder in sorted(FOLDERS)]
    adapter = get_dataset("ferplus", label_mode="majority")
    for split, size in (("train", 48), ("test", 112)):
        original = open_prepared_split(adapter, root, split, image_size=size, cache_dir=cache)
        packed = adapter.open_split(split, root=pack, image_size=size, cache_dir=tmp_path / "unpacked")
        assert list(packed.image_ids) == list(original.image_ids) and len(packed) > 0
        np.testing.assert_array_equal(packed.labels, original.labels)
        for i in range(len(packed)):
            a, b = original[i], packed[i]
            difference = np.abs(a.image.astype(int) - b.image.astype(int)).max()
            assert difference == 0 if size == 48 else difference <= 1  # Pillow's resize against the device's
            np.testing.assert_array_equal(a.landmarks, b.landmarks)
    occlusion = get_dataset("subset", parent="ferplus", list_path=_list(tmp_path, ["fer0032301.png", "fer0032305.png"]))
    subset = occlusion.open_split("test", root=pack, image_size=48, cache_dir=tmp_path / "unpacked")
    assert list(subset.image_ids) == ["fer0032301.png", "fer0032305.png"]


@pytest.mark.parametrize("packed_size, image_size", [(48, 112), (48, 48), (96, 64)])
def test_the_loader_moves_packed_faces_compact_and_resizes_and_flips_them_on_the_device(
    ferplus_copy, tmp_path, packed_size, image_size
):
    root, cache = ferplus_copy
    pack = tmp_path / "ferplus.pack"
    pack_dataset(get_dataset("ferplus"), root, pack, size=packed_size, cache_dir=cache)
    packed = get_dataset("ferplus").open_split("train", root=pack, image_size=image_size, cache_dir=tmp_path / "u")
    everyone = list(range(len(packed)))
    for source in (packed, SubsetSource(packed, everyone)):  # a carved validation split reads compact too
        batch = FaceDataset(source, hflip=True, seed=3).__getitems__([(i, 1) for i in everyone])
        side = min(packed_size, image_size)  # a larger pack is resized before it moves: fewer bytes
        assert tuple(batch["image"].shape[1:]) == (1, side, side) and batch["frame"] == image_size
        assert 0 < int(batch["flip"].sum()) < len(packed)  # some faces flipped, some not
        faces, landmarks = to_device(batch, torch.device("cpu"), False, ((0.0,) * 3, (1.0,) * 3))
        records = [packed[i] for i in everyone]
        expected = torch.stack([torch.from_numpy(r.image).permute(2, 0, 1).float() / 255 for r in records])
        flip = batch["flip"][:, None, None, None]
        expected = torch.where(flip, expected.flip(-1), expected)
        assert faces.shape == expected.shape
        assert float((faces - expected).abs().max()) <= 1 / 255 + 1e-6  # full-size records are rounded to uint8
        for k, record in enumerate(records):
            mirrored = flip_landmarks(record.landmarks, image_size)
            np.testing.assert_allclose(landmarks[k].numpy(), mirrored if batch["flip"][k] else record.landmarks)


def _list(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "list.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_cli_pack_then_train_from_the_file(ferplus_copy, tmp_path):
    root, cache = ferplus_copy
    pack = tmp_path / "f.pack"
    result = CliRunner().invoke(app, ["pack", "ferplus", "--root", str(root), "--out", str(pack), "--size", "32",
                                      "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    config = build_config(overrides=[
        "data.name=ferplus", f"data.root={pack}", "data.val_split=val", "data.test_splits=[test]", "data.image_size=32",
        f"data.split_options={{cache_dir: {tmp_path / 'unpacked'}}}", "model.backbone=cnn-tiny", "train.epochs=1",
        "train.batch_size=4", "train.eval_batch_size=8",
    ])
    metrics = train_run(config, tmp_path / "run", progress=False)
    assert metrics["splits"]["test"]["prediction"]["count"] == PER_FOLDER
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 1


@pytest.mark.parametrize("from_pack", [True, False])
def test_a_run_parses_its_label_files_and_reads_its_cache_once(ferplus_copy, tmp_path, monkeypatch, from_pack):
    """Opening the train, validation and test splits, fingerprinting the data and the final test read one parse of
    the label files and one read of the cache (or pack) between them."""
    from oadn.data.adapters.ferplus import FERPlus
    from oadn.data.prepared.cache import PreparedCache

    root, cache = ferplus_copy
    if from_pack:
        root = tmp_path / "f.pack"
        pack_dataset(get_dataset("ferplus"), ferplus_copy[0], root, size=32, cache_dir=cache)
    scans, reads = [], []
    scan, read = FERPlus.scan, PreparedCache._read
    monkeypatch.setattr(FERPlus, "scan", lambda self, *a: scans.append(1) or scan(self, *a))
    monkeypatch.setattr(PreparedCache, "_read", lambda self, *a: reads.append(1) or read(self, *a))
    monkeypatch.setattr("oadn.data.prepared.cache._WHOLE_READS", {})  # as in a new process
    config = build_config(overrides=[
        "data.name=ferplus", f"data.root={root}", "data.val_split=val", "data.test_splits=[test]", "data.image_size=32",
        f"data.split_options={{cache_dir: {cache if not from_pack else tmp_path / 'unpacked'}}}",
        "model.backbone=cnn-tiny", "train.epochs=1", "train.batch_size=4", "train.eval_batch_size=8",
    ])
    train_run(config, tmp_path / "run", progress=False)
    assert len(scans) == 1 and len(reads) == (0 if from_pack else 1)


def test_a_pack_never_carries_nan_landmarks_from_its_cache(ferplus_copy, tmp_path):
    """A cache holding NaN landmarks (hand-edited, or from an older version) is read as training reads it: that
    face becomes a failed face (no landmarks), said in a warning, never NaN scores in the pack."""
    import shutil

    import pyarrow.parquet as pq

    from oadn.data.packed import Pack, unpack
    from oadn.data.prepared.cache import PreparedCache

    root, cache_dir = ferplus_copy
    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)  # the module's cache stays clean for the other tests
    (chunk_dir,) = {p.parent for p in copy.rglob("chunk-*.parquet")}
    cache = PreparedCache(chunk_dir)
    path = cache.chunk_paths()[0]
    table = pq.read_table(path).to_pandas()
    table.at[0, "x"] = np.full(68, np.nan, np.float32)
    cache.write_chunk(path, pq.read_table(path).from_pandas(table, schema=pq.read_table(path).schema))
    with pytest.warns(UserWarning, match=r"1 face\(s\) with NaN/inf landmarks"):
        pack_dataset(get_dataset("ferplus"), root, tmp_path / "f.pack", size=48, cache_dir=copy)
    packed = Pack(unpack(tmp_path / "f.pack", tmp_path / "u"))
    assert np.isfinite(packed.landmarks).all()
    assert packed.table.set_index("image_id").loc[table.at[0, "image_id"], "status"] == "no_landmarks"


@pytest.mark.slow
def test_a_suite_trains_and_scores_occluded_columns_from_a_pack(ferplus_copy, tmp_path):
    """`run --root ferplus=FILE.pack` (the GPU session's robustness-gpu phase): the plan indexes the pack's own
    label files instead of a folder, so its rows train and the pasted, swapped and score-mode columns score."""
    root, cache = ferplus_copy
    pack = tmp_path / "f.pack"
    pack_dataset(get_dataset("ferplus"), root, pack, size=32, cache_dir=cache)
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: packed\nseeds: [0]\nbase:\n"
        "  data: {name: occluded, options: {base: ferplus, kind: [rect], area: any, probability: 0.5},"
        " image_size: 32, val_split: val, test_splits: [test]}\n"
        "  model: {backbone: cnn-tiny}\n  train: {epochs: 1, batch_size: 8, eval_batch_size: 8}\n"
        "methods:\n  OADN: {model: {name: oadn}}\n"
        "experiments:\n  - id: e\n    title: packed FERPlus\n    columns:\n"
        "      - {name: test, dataset: ferplus}\n"
        "      - {name: swap, dataset: occluded, options: {base: ferplus, kind: swap-eyes, probability: 1.0,"
        " scores: random-drop}}\n")
    args = ["run", "--suite", str(suite), "--root", f"ferplus={pack}", "--cache-dir", str(tmp_path / "unpacked"),
            "--runs-root", str(tmp_path / "runs"), "--report-dir", str(tmp_path / "report"), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = pd.read_csv(tmp_path / "report" / "manifest.csv")
    assert list(manifest.status) == ["finished", "finished"], manifest.reason.tolist()
    assert {len(pd.read_parquet(path)) for path in manifest.predictions} == {PER_FOLDER}
