"""A pack file as an archive: recognised, checked and unpacked once, before anything reads it as faces.

A pack is shared like data, so unpacking treats it as untrusted: every member is checked before anything is
written (plain files at a pack's own places: no links, devices, pipes, absolute paths or ``..``), the arrays are
checked against ``pack.json`` (shape and dtype; a Python-object array is never loaded), and a damaged or crafted
pack is refused in one line naming it and what is wrong (:class:`PackError`), with no half-unpacked folder left
behind. :mod:`oadn.data.packed` reads an unpacked pack as faces.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from oadn.common.files import disk_full, out_of_space
from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.data.prepared.cache import cache_root


def is_pack(path: Path) -> bool:
    """Whether ``path`` stands for a pack file: a data set root is a directory, so any file given as one is read
    as a pack (and one that is not, or is damaged, is refused by :func:`unpack`, named)."""
    return Path(path).is_file()


class PackError(ValueError):
    """A pack file that is damaged or crafted: refused, in one line naming the pack and what is wrong in it."""


#: what a pack holds at its top level; label files are under files/
PACK_MEMBERS = ("pack.json", "faces.parquet", "images.npy", "landmarks.npy")


def _member_problem(member: tarfile.TarInfo) -> str:
    """Why ``member`` has no place in a pack ("" when it has): only plain files and folders, named by relative
    paths without ``..``, at the pack's known places."""
    name = member.name
    if not (member.isfile() or member.isdir()):
        kind = "a link" if member.issym() or member.islnk() else "a device, pipe or other special file"
        return f"member {name!r} is {kind}; a pack holds plain files only"
    if name.startswith("/") or "\\" in name or ".." in Path(name).parts:
        return f"member {name!r} leads outside the pack's folder"
    if name not in PACK_MEMBERS and Path(name).parts[0] != "files":
        return f"member {name!r} is not part of a pack ({', '.join(PACK_MEMBERS)}, files/)"
    return ""


def _extract(pack_file: Path, scratch: Path) -> None:
    """Every member of ``pack_file`` into ``scratch``, each checked before anything is written."""
    try:
        with tarfile.open(pack_file, "r:*") as archive:
            members = archive.getmembers()
            problems = [problem for member in members if (problem := _member_problem(member))]
            if problems:
                raise PackError(f"{pack_file}: refused: {problems[0]}"
                                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4; checked above
            archive.extractall(scratch, members=members, **safe)
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError) as error:
        if out_of_space(error):
            raise disk_full(scratch.parent, f"{pack_file.name} unpacked", "nothing of it is kept") from None
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PackError(f"{pack_file}: damaged, cannot be unpacked ({first}); make it again with "
                        f"`oadn-bench pack` or copy it again") from None


def _check_contents(pack_file: Path, folder: Path) -> None:
    """The unpacked ``folder`` holds a pack this version reads: pack.json, a face table and arrays that agree."""
    missing = [name for name in PACK_MEMBERS if not (folder / name).is_file()]
    if missing:
        raise PackError(f"{pack_file}: not a pack made by `oadn-bench pack` (no {', '.join(missing)} inside)")

    def read(name: str, how: Callable[[Path], Any]) -> Any:
        try:
            return how(folder / name)
        except (ValueError, KeyError, TypeError, OSError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise PackError(f"{pack_file}: refused: {name} cannot be read ({first}); make the pack again with "
                            f"`oadn-bench pack`") from None

    meta = read("pack.json", lambda path: json.loads(path.read_text()))
    count, size, channels = read("pack.json", lambda _: (int(meta["count"]), int(meta["size"]), int(meta["channels"])))
    faces = read("faces.parquet", lambda path: len(pd.read_parquet(path, columns=["image_id"])))
    images = read("images.npy", lambda path: np.load(path, mmap_mode="r", allow_pickle=False))
    points = read("landmarks.npy", lambda path: np.load(path, mmap_mode="r", allow_pickle=False))
    expected = {"images.npy": ((count, size, size, channels), np.uint8, images),
                "landmarks.npy": ((count, NUM_LANDMARKS, 3), np.float32, points)}
    for name, (shape, dtype, array) in expected.items():
        if array.shape != shape or array.dtype != dtype:
            raise PackError(f"{pack_file}: refused: {name} holds {array.dtype} {array.shape}, expected "
                            f"{np.dtype(dtype)} {shape} (pack.json: {count} faces at {size} px, {channels} channel(s))")
    if faces != count:
        raise PackError(f"{pack_file}: refused: faces.parquet lists {faces} faces, pack.json {count}")


def unpack(pack_file: Path, cache_dir: Path | None = None) -> Path:
    """The directory holding ``pack_file``'s contents, unpacked on first use (atomically, so concurrent ranks
    or a killed unpack never leave a half-written directory in place). A pack is shared like data: every member
    is checked before it is written (plain files at a pack's places only), the arrays are checked against
    pack.json, and anything else refuses the pack (:class:`PackError`) with nothing left behind."""
    pack_file = Path(pack_file).resolve()
    stat = pack_file.stat()
    key = hashlib.sha256(f"{pack_file}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_root(cache_dir) / "packed" / f"{pack_file.stem.split('.')[0]}-{key}"
    if (target / "pack.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        _extract(pack_file, scratch)
        _check_contents(pack_file, scratch)
        try:
            os.replace(scratch, target)
        except OSError:
            if not (target / "pack.json").is_file():  # not another process that won the race
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
