"""A pack file is shared like data: a crafted or damaged one is refused in one line naming the pack and what is
wrong in it (a member leading outside, a link, a special file, an array that is not what pack.json says, a
truncated file), before anything of it is written, and no half-unpacked folder is left behind."""

from __future__ import annotations

import io
import lzma
import tarfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers_ferplus import write_ferplus
from oadn.cli import app
from oadn.data.pack_archive import PackError, unpack
from oadn.data.registry import get_dataset
from oadn.preprocess.pack import pack_dataset
from oadn.preprocess.prepare import prepare

runner = CliRunner()


@pytest.fixture(scope="module")
def good_pack(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("pack")
    landmarks = write_ferplus(base / "ferplus")
    prepare(get_dataset("ferplus"), base / "ferplus", landmarks=f"file:{landmarks}", cache_dir=base / "cache")
    pack = base / "ferplus.pack"
    pack_dataset(get_dataset("ferplus"), base / "ferplus", pack, size=48, cache_dir=base / "cache")
    return pack


def members_of(pack: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(pack, "r:*") as archive:
        return [(m, archive.extractfile(m).read() if m.isfile() else None) for m in archive.getmembers()]


def write_pack(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(lzma.compress(buffer.getvalue(), format=lzma.FORMAT_XZ))
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


CRAFTED = {
    "a member leading outside": (lambda ms: ms + [entry("../../escaped.txt")], "member '../../escaped.txt' leads "
                                 "outside the pack's folder"),
    "an absolute member": (lambda ms: ms + [entry("/tmp/escaped.txt")], "member '/tmp/escaped.txt' leads outside"),
    "a link to an absolute path": (lambda ms: ms + [entry("files/passwd", tarfile.SYMTYPE, link="/etc/passwd")],
                                   "member 'files/passwd' is a link"),
    "a hard link": (lambda ms: ms + [entry("files/copy", tarfile.LNKTYPE, link="pack.json")],
                    "member 'files/copy' is a link"),
    "a device": (lambda ms: ms + [entry("files/dev", tarfile.CHRTYPE)], "member 'files/dev' is a device, pipe"),
    "a pipe": (lambda ms: ms + [entry("files/fifo", tarfile.FIFOTYPE)], "member 'files/fifo' is a device, pipe"),
    "images of Python objects": (
        lambda ms: [(m, npy(np.array([{"a": 1}], dtype=object)) if m.name == "images.npy" else d) for m, d in ms],
        "images.npy"),
    "images of another shape": (
        lambda ms: [(m, npy(np.zeros((2, 48, 48, 1), np.uint8)) if m.name == "images.npy" else d) for m, d in ms],
        "images.npy holds uint8 (2, 48, 48, 1), expected uint8 (24, 48, 48, 1)"),
    "no pack.json": (lambda ms: [(m, d) for m, d in ms if m.name != "pack.json"], "no pack.json inside"),
}


def fix_sizes(members):
    for info, data in members:
        if data is not None:
            info.size = len(data)
    return members


@pytest.mark.parametrize("what", list(CRAFTED))
def test_a_crafted_pack_is_refused_in_one_line_and_leaves_nothing(good_pack, tmp_path, what):
    craft, named = CRAFTED[what]
    pack = write_pack(tmp_path / "crafted.pack", fix_sizes(craft(members_of(good_pack))))
    cache = tmp_path / "cache"
    with pytest.raises(PackError, match=str(pack)):
        unpack(pack, cache)
    result = runner.invoke(app, ["train", "--no-progress", "--set", "data.name=ferplus", "--set", f"data.root={pack}",
                                 "--set", "data.image_size=32", "--set", "model.backbone=cnn-tiny",
                                 "--cache-dir", str(cache), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
    text = " ".join(result.output.split())
    assert f"{pack}: " in text and named in text
    assert list((cache / "packed").iterdir()) == []  # no half-unpacked folder
    assert not (tmp_path.parent / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()


@pytest.mark.parametrize("cut", [0.5, 0.05])
def test_a_truncated_pack_is_named_damaged(good_pack, tmp_path, cut):
    data = good_pack.read_bytes()
    pack = tmp_path / "cut.pack"
    pack.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(PackError, match=f"{pack}: damaged, cannot be unpacked"):
        unpack(pack, tmp_path / "cache")
    assert list((tmp_path / "cache" / "packed").iterdir()) == []


def test_the_good_pack_unpacks(good_pack, tmp_path):
    assert (unpack(good_pack, tmp_path / "cache") / "images.npy").is_file()
