"""A split's identity includes its pixels: a copy with the same file names and labels but other images is other
data, so a suite trains it anew instead of reusing (and reporting) the runs of the first copy, and a resume on it
is refused. Image digests are kept by path, size and mtime; a pack's fingerprint covers its faces."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from helpers_ferplus import swap_pixels, write_ferplus
from oadn.cli import app
from oadn.data.fingerprint import data_fingerprints, same_splits
from oadn.data.pixel_digests import digest_store, file_digests
from oadn.data.registry import get_dataset
from oadn.preprocess.pack import pack_dataset
from oadn.preprocess.prepare import prepare

runner = CliRunner()
FERPLUS = get_dataset("ferplus")


def prepared_copy(base: Path, name: str = "ferplus") -> tuple[Path, Path, Path]:
    """(root, landmark file, cache dir) of a prepared tiny FERPlus copy."""
    root, cache = base / name, base / "cache"
    landmarks = write_ferplus(root)
    prepare(FERPLUS, root, landmarks=f"file:{landmarks}", cache_dir=cache)
    return root, landmarks, cache


def suite(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "name": "pixels", "base": {
            "data": {"name": "ferplus", "image_size": 32, "test_splits": ["test"]},
            "model": {"backbone": "cnn-tiny"}, "train": {"epochs": 1, "batch_size": 8}},
        "methods": {"Baseline": {"model": {"name": "baseline"}}},
        "experiments": [{"id": "fer", "root": "ferplus"}],
    }))
    return path


def test_a_copy_with_the_same_names_and_labels_but_other_pixels_is_not_reused(tmp_path):
    root, landmarks, cache = prepared_copy(tmp_path)
    args = ["run", "--suite", str(suite(tmp_path / "s.yaml")), "--runs-root", str(tmp_path / "runs"),
            "--report-dir", str(tmp_path / "report"), "--cache-dir", str(cache), "--no-progress"]
    result = runner.invoke(app, [*args, "--root", f"ferplus={root}"])
    assert result.exit_code == 0, result.output
    other = tmp_path / "other" / "ferplus"
    shutil.copytree(root, other)
    swap_pixels(other)
    prepare(FERPLUS, other, landmarks=f"file:{landmarks}", cache_dir=cache)
    assert data_fingerprints(FERPLUS, root, cache)["test"]["sha256"] == \
        data_fingerprints(FERPLUS, other, cache)["test"]["sha256"]  # the same names and labels
    same = runner.invoke(app, [*args, "--root", f"ferplus={root}", "--dry-run"])
    assert "plan: 0 new, 1 reuse" in same.output, same.output
    swapped = runner.invoke(app, [*args, "--root", f"ferplus={other}", "--dry-run"])
    assert "plan: 1 new, 0 reuse" in swapped.output, swapped.output


def test_resuming_on_swapped_pixels_is_refused_by_name(tmp_path):
    root, landmarks, cache = prepared_copy(tmp_path)
    run = tmp_path / "run"
    sets = ["data.name=ferplus", f"data.root={root}", "data.image_size=32", "model.backbone=cnn-tiny",
            "model.name=baseline", "train.epochs=2", "train.batch_size=8"]
    interrupted = runner.invoke(app, ["train", "--no-progress", "--cache-dir", str(cache), "--run-dir", str(run),
                                      *[a for s in sets for a in ("--set", s)]])
    assert interrupted.exit_code == 0, interrupted.output
    (run / "metrics.json").unlink()  # as if stopped before the test splits were scored
    swap_pixels(root)
    prepare(FERPLUS, root, landmarks=f"file:{landmarks}", cache_dir=cache)
    result = runner.invoke(app, ["train", "--resume", str(run), "--no-progress", "--cache-dir", str(cache)])
    assert result.exit_code == 1, result.output
    assert "the same image names and labels, other pixels" in " ".join(result.output.split())


def test_a_packs_fingerprint_covers_its_faces(tmp_path):
    root, landmarks, cache = prepared_copy(tmp_path)
    first = tmp_path / "a.pack"
    pack_dataset(FERPLUS, root, first, size=48, cache_dir=cache)
    swap_pixels(root)
    prepare(FERPLUS, root, landmarks=f"file:{landmarks}", cache_dir=cache)
    second = tmp_path / "b.pack"
    pack_dataset(FERPLUS, root, second, size=48, cache_dir=cache)
    a, b = data_fingerprints(FERPLUS, first, cache), data_fingerprints(FERPLUS, second, cache)
    assert a["train"]["sha256"] == b["train"]["sha256"] and a["train"]["pixels"] != b["train"]["pixels"]
    assert data_fingerprints(FERPLUS, first, cache) == a  # read again from the unpacked pack's own digests


def test_image_digests_are_kept_by_path_size_and_mtime(tmp_path):
    root = tmp_path / "copy"
    root.mkdir()
    image = root / "a.png"
    image.write_bytes(b"first pixels")
    (digest,) = file_digests([image], root, tmp_path / "cache")
    assert digest_store(root, tmp_path / "cache").is_file()
    stat = image.stat()
    image.write_bytes(b"other pixels")  # the same size; mtime put back: the kept digest is used
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digests([image], root, tmp_path / "cache") == [digest]
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a newer mtime: read again
    assert file_digests([image], root, tmp_path / "cache") != [digest]


@pytest.mark.parametrize("recorded, matches", [
    ({"images": 8, "sha256": "ab"}, True),  # a record from before pixels were digested: names and labels
    ({"images": 8, "sha256": "ab", "pixels": "cd"}, True),
    ({"images": 8, "sha256": "ab", "pixels": "ee"}, False),
])
def test_a_record_is_matched_on_the_fields_it_has(recorded, matches):
    assert same_splits({"test": recorded}, {"test": {"images": 8, "sha256": "ab", "pixels": "cd"}}) is matches
