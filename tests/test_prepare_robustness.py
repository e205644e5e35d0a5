"""prepare and the prepared cache under faults: bad roots, damaged or foreign chunks, changed images, NaN
landmarks, read-only caches, detector fallbacks, caches written before file stats were recorded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import oadn.data.prepared.audit as audit_module
import oadn.preprocess.prepare as prepare_module
from helpers_data import ConstantLandmarker
from oadn.data.pixel_digests import file_digests, recorded_digests
from oadn.data.prepared.cache import PreparedCache
from oadn.data.prepared.source import open_prepared_split, prepared_rows
from oadn.data.registry import get_dataset
from oadn.preprocess.cli import prepare_command, show_landmarks_command
from oadn.preprocess.pack import pack_dataset
from oadn.preprocess.prepare import prepare

ADAPTER = get_dataset("folder", aligned="true")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Six aligned 40 px faces in happy/ and sad/."""
    base = tmp_path / "faces"
    for k in range(6):
        folder = base / ("happy" if k % 2 else "sad")
        folder.mkdir(parents=True, exist_ok=True)
        image = np.full((40, 40, 3), 30 * k, np.uint8)
        image[8:32, 8:32] = 250 - 30 * k
        Image.fromarray(image).save(folder / f"f{k}.png")
    return base


@pytest.fixture
def backend(monkeypatch) -> ConstantLandmarker:
    fake = ConstantLandmarker()
    monkeypatch.setattr(prepare_module, "make_backend", lambda spec, **kw: fake)
    return fake


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("prepare")(prepare_command)
    app.command("show-landmarks")(show_landmarks_command)
    return app


def _prepare(root: Path, cache: Path, **kw):
    return prepare(ADAPTER, root, landmarks="fake", cache_dir=cache, chunk_size=2, **kw)


def test_missing_root_and_root_that_is_a_file_are_named(tmp_path: Path, backend):
    with pytest.raises(FileNotFoundError, match="nowhere: data set root does not exist"):
        _prepare(tmp_path / "nowhere", tmp_path / "c")
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(_app(), ["prepare", "folder", "--root", str(tmp_path / "file"), "--landmarks", "dlib",
                                         "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "is a file, not a folder" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "c").exists()
    with pytest.raises(FileNotFoundError, match="data set root does not exist"):  # not "run prepare"
        open_prepared_split(ADAPTER, tmp_path / "nowhere", "test", image_size=32, cache_dir=tmp_path / "c")


def test_damaged_and_deleted_chunks_are_named_and_repaired(root: Path, tmp_path: Path, backend):
    cache_dir = tmp_path / "cache"
    first = _prepare(root, cache_dir)
    chunks = PreparedCache(first.cache_dir).chunk_paths()
    assert len(chunks) == 3
    chunks[1].write_bytes(chunks[1].read_bytes()[:40])  # truncated
    with pytest.raises(RuntimeError, match=rf"chunk-000001.parquet: damaged cache chunk.*--cache-dir {cache_dir}"):
        open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)
    repaired = _prepare(root, cache_dir)
    assert repaired.processed == 2 and len(repaired.repaired_chunks) == 1
    chunks = PreparedCache(first.cache_dir).chunk_paths()
    chunks[0].unlink()
    with pytest.raises(RuntimeError, match=rf"2 image\(s\) of split 'test' are not prepared.*--cache-dir {cache_dir}"):
        open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)
    again = _prepare(root, cache_dir)
    assert again.processed == 2 and again.status_counts == {"ok": 6}
    assert len(open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)) == 6


def test_chunk_from_another_data_set_is_refused(root: Path, tmp_path: Path, backend):
    mine = _prepare(root, tmp_path / "a")
    other_root = tmp_path / "other"
    shutil.copytree(root, other_root)
    theirs = _prepare(other_root, tmp_path / "b")
    shutil.copy(PreparedCache(theirs.cache_dir).chunk_paths()[0], mine.cache_dir / "chunk-000009.parquet")
    with pytest.raises(RuntimeError, match="chunk-000009.parquet: chunk written for data set 'folder' in cache"):
        open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=tmp_path / "a")
    with pytest.raises(RuntimeError, match="remove the file"):
        _prepare(root, tmp_path / "a")


def test_a_chunk_whose_images_were_all_removed_from_the_root_is_not_called_foreign(root: Path, tmp_path: Path, backend):
    summary = _prepare(root, tmp_path / "cache")
    first = PreparedCache(summary.cache_dir).chunk_paths()[0]
    for image_id in pq.read_table(first).column("image_id").to_pylist():
        (root / image_id).unlink()
    again = _prepare(root, tmp_path / "cache")
    assert again.total == 4 and again.processed == 0
    assert len(open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=tmp_path / "cache")) == 4


def test_changed_images_are_noticed_and_prepared_again(root: Path, tmp_path: Path, backend):
    cache_dir = tmp_path / "cache"
    _prepare(root, cache_dir)
    before = open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)
    old = before[0].image.copy()
    target = root / before.image_ids[0]
    Image.fromarray(np.full((80, 80, 3), 7, np.uint8)).save(target)  # replaced and resized
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    with pytest.raises(RuntimeError, match=r"1 image\(s\) changed at the root since they were prepared"):
        open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)
    summary = _prepare(root, cache_dir)
    assert summary.changed == 1 and summary.processed == 1 and summary.status_counts == {"ok": 6}
    after = open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)
    assert len(after) == 6 and (after[0].image == 7).all() and not (old == 7).all()


def test_a_cache_written_before_file_stats_still_works(root: Path, tmp_path: Path, backend):
    cache_dir = tmp_path / "cache"
    summary = _prepare(root, cache_dir)
    first, *others = PreparedCache(summary.cache_dir).chunk_paths()
    for path in others:  # rewrite as the first release wrote chunks; a mixed cache must not look changed
        pq.write_table(pq.read_table(path).drop(["file_size", "file_mtime_ns"]).replace_schema_metadata(None), path)
    with pytest.warns(UserWarning, match=r"written before file changes were tracked \(4 image"):
        assert len(open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)) == 6
    pq.write_table(pq.read_table(first).drop(["file_size", "file_mtime_ns"]).replace_schema_metadata(None), first)
    result = CliRunner().invoke(_app(), ["prepare", "folder", "--root", str(root), "-o", "aligned=true",
                                         "--landmarks", "fake", "--cache-dir", str(cache_dir)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "recorded the current size and mtime of 6 image(s)" in text and "0 processed now" in text
    assert PreparedCache(summary.cache_dir).read()["file_size"].notna().all()


def test_nan_landmarks_never_reach_the_scores(root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(prepare_module, "make_backend", lambda spec, **kw: ConstantLandmarker(nan=True))
    summary = _prepare(root, tmp_path / "c")
    assert summary.status_counts == {"ok": 5, "no_landmarks": 1}
    (reason,) = summary.reasons
    assert "non-finite landmarks (NaN/inf) from constant landmarker" in reason and summary.examples[reason]
    # a cache holding NaN (hand-edited, or written by an older version): failed face by policy, and said
    cache = PreparedCache(summary.cache_dir)
    path = cache.chunk_paths()[1]
    table = pq.read_table(path).to_pandas()
    table.at[0, "score"] = np.full(68, np.nan, np.float32)
    cache.write_chunk(path, pq.read_table(path).from_pandas(table, schema=pq.read_table(path).schema))
    with pytest.warns(UserWarning, match=r"1 face\(s\) with NaN/inf landmarks"):
        source = open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=tmp_path / "c")
    scores = np.stack([source[i].landmarks for i in range(len(source))])
    assert np.isfinite(scores).all()
    with pytest.warns(UserWarning):
        dropped = open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=tmp_path / "c", policy="drop")
    assert len(dropped) == 4
    with pytest.warns(UserWarning, match=r"1 face\(s\) with NaN/inf landmarks"):  # a pack reads the cache the same way
        table = prepared_rows(PreparedCache(summary.cache_dir), ADAPTER.preparation_index(root), "prepare ...")
    assert np.isfinite(np.stack(table["score"].to_numpy())).all() and (table["status"] == "no_landmarks").sum() == 2


def test_a_data_set_labelled_by_its_folders_is_refused_by_pack(root: Path, tmp_path: Path, backend):
    _prepare(root, tmp_path / "c")
    with pytest.raises(ValueError, match="folder cannot be packed: it finds its images by scanning the image files"):
        pack_dataset(ADAPTER, root, tmp_path / "f.pack", size=32, cache_dir=tmp_path / "c")
    assert not (tmp_path / "f.pack").exists()


def test_read_only_cache_is_refused_before_any_work(root: Path, tmp_path: Path, backend, monkeypatch):
    monkeypatch.setattr(audit_module.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="cache directory is not writable"):
        _prepare(root, tmp_path / "c")
    assert backend.seen == 0


def test_fallbacks_are_counted_and_shown(root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(prepare_module, "make_backend", lambda spec, **kw: ConstantLandmarker(fallback_every=3))
    runner = CliRunner()
    args = ["--root", str(root), "-o", "aligned=true", "--cache-dir", str(tmp_path)]
    result = runner.invoke(_app(), ["prepare", "folder", "--landmarks", "fake", *args])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "status: ok 6" in text and "2 (33.3%) are detector fallbacks" in text
    out = tmp_path / "fallback.png"
    shown = runner.invoke(_app(), ["show-landmarks", "folder", *args, "--only", "fallback", "--out", str(out),
                                   "--image-size", "64"])
    assert shown.exit_code == 0, shown.output
    assert Image.open(out).size[0] > 100


def test_show_landmarks_without_a_cache_is_one_named_line(root: Path, tmp_path: Path):
    result = CliRunner().invoke(_app(), ["show-landmarks", "folder", "--root", str(root), "--cache-dir",
                                         str(tmp_path / "none")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    text = result.output.replace("\n", "")
    assert "no prepared cache for 'folder'" in text and "Traceback" not in text
    assert f"--cache-dir {tmp_path / 'none'}" in text


def test_a_fresh_cache_with_a_missing_image_never_says_it_predates_file_tracking(tmp_path: Path, backend):
    """An image the label file names but the copy lacks is recorded unreadable without file stats; neither the
    next prepare nor reading the cache may call that "written before file changes were tracked"."""
    import warnings


    root = tmp_path / "rafdb"
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    for stem in ("train_00001", "train_00002", "test_0001"):
        Image.fromarray(np.full((48, 48, 3), 120, np.uint8)).save(root / "Image" / "aligned" / f"{stem}_aligned.jpg")
    (root / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 1\ntrain_00002.jpg 2\ntrain_00003.jpg 3\ntest_0001.jpg 4\n")  # train_00003: no image
    args = ["prepare", "rafdb", "--root", str(root), "--landmarks", "fake", "--cache-dir", str(tmp_path / "cache")]
    for _ in range(2):
        result = CliRunner().invoke(_app(), args)
        assert result.exit_code == 0, result.output
        assert "written before file changes were tracked" not in result.output
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rafdb = get_dataset("rafdb")
        source = open_prepared_split(rafdb, root, "train", image_size=32, cache_dir=tmp_path / "cache")
        assert len(source) == 3  # the unreadable one is skipped by the loader


def _touch_all(root: Path, seconds: int = 10) -> None:
    """New modification times, the same bytes: what a copy without -p or a restore does."""
    for image in root.rglob("*.png"):
        stat = image.stat()
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 10**9))


def test_files_with_new_times_and_the_same_bytes_are_recorded_not_prepared_again(root: Path, tmp_path: Path,
                                                                                 backend):
    cache_dir = tmp_path / "cache"
    _prepare(root, cache_dir)
    seen = backend.seen
    _touch_all(root)
    with pytest.raises(RuntimeError, match=r"6 image\(s\) changed at the root.*only re-recorded"):
        open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)
    summary = _prepare(root, cache_dir)
    assert summary.touched == 6 and summary.changed == 0 and summary.processed == 0
    assert backend.seen == seen  # no face landmarked again
    assert len(open_prepared_split(ADAPTER, root, "test", image_size=32, cache_dir=cache_dir)) == 6


def test_new_times_are_recognised_after_a_run_has_digested_the_copy_anew(root: Path, tmp_path: Path, backend):
    cache_dir = tmp_path / "cache"
    _prepare(root, cache_dir)
    _touch_all(root)
    file_digests(sorted(str(p) for p in root.rglob("*.png")), root, cache_dir)  # a run's fingerprint after the copy
    summary = _prepare(root, cache_dir)
    assert summary.touched == 6 and summary.processed == 0


def test_a_file_with_new_bytes_of_the_same_size_is_prepared_again(root: Path, tmp_path: Path, backend):
    cache_dir = tmp_path / "cache"
    _prepare(root, cache_dir)
    target = sorted(root.rglob("*.png"))[0]
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # the PNG's end chunk's checksum: the same size, other bytes
    target.write_bytes(bytes(data))
    _touch_all(root)
    summary = _prepare(root, cache_dir)
    assert summary.touched == 5 and summary.changed == 1 and summary.processed == 1


def test_the_digest_store_keeps_two_times_per_file(tmp_path: Path):
    root = tmp_path / "copy"
    root.mkdir()
    image = root / "a.png"
    image.write_bytes(b"pixels")
    seen = []
    for _ in range(3):
        stat = image.stat()
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        (digest,) = file_digests([image], root, tmp_path / "cache")
        seen.append((str(image), stat.st_size, stat.st_mtime_ns + 10**9))
    assert recorded_digests(seen, root, tmp_path / "cache") == [None, digest, digest]
