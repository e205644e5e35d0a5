"""What each image of a copy holds, as a digest of its bytes: a copy with the same file names and labels but other
pixels is another copy, and its runs are other runs.

Hashing every image on every run would cost a full read of the data, so an image file's digest is kept beside
the prepared caches (``<cache root>/digests/<root key>.parquet``), keyed by its path, size and modification time,
and computed again only when one of them changes (the same test ``prepare`` uses for a changed image). The store
keeps each file's digest at its last two (size, time) pairs: a copy that gives every file a new time and the same
bytes is then told apart from a changed file (``prepare`` records such files instead of preparing them again). A
pack's faces are digested from its own face array, once per unpacked pack, kept in the unpacked folder.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from oadn.common.files import save_parquet
from oadn.data.prepared.cache import cache_root

#: what a missing or unreadable image stands as in a copy's digests
MISSING = "missing"
_COLUMNS = ["path", "size", "mtime_ns", "sha256"]
#: (size, time) pairs whose digest is kept per file: the current one and the one before it
_KEPT_PER_FILE = 2
_CHUNK = 1 << 20


def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
    except OSError:
        return MISSING
    return digest.hexdigest()


def _stat(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return stat.st_size, stat.st_mtime_ns


def digest_store(root: Path, cache_dir: Path | None = None) -> Path:
    """Where the digests of the images of the copy at ``root`` are kept."""
    key = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return cache_root(cache_dir) / "digests" / f"{key}.parquet"


def file_digests(paths: Iterable[str], root: Path, cache_dir: Path | None = None) -> list[str]:
    """The SHA-256 of each file of ``paths`` (``MISSING`` for one that cannot be read), from the store of the copy
    at ``root`` where its size and mtime are unchanged; the store is brought up to date."""
    paths = [str(p) for p in paths]
    store = digest_store(root, cache_dir)
    known = _read(store)
    stats = [_stat(p) for p in paths]
    todo = [i for i, (p, st) in enumerate(zip(paths, stats)) if st is not None and (p, *st) not in known]
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        for i, digest in zip(todo, pool.map(_hash_file, [paths[i] for i in todo])):
            known[(paths[i], *stats[i])] = digest
    out = [known[(p, *st)] if st is not None else MISSING for p, st in zip(paths, stats)]
    if todo:
        _save(store, _latest_per_file(known))
    return out


def recorded_digests(entries: Iterable[tuple[str, int, int]], root: Path,
                     cache_dir: Path | None = None) -> list[str | None]:
    """The digest kept for each (path, size, mtime) of the copy at ``root``, None where none was kept: what the
    file held when it last had that size and time."""
    known = _read(digest_store(root, cache_dir))
    return [known.get((str(p), int(s), int(m))) for p, s, m in entries]


def _read(store: Path) -> dict[tuple[str, int, int], str]:
    """The store as {(path, size, mtime): digest}, oldest first; empty when it is missing or damaged (it is only a
    cache: every image is hashed again)."""
    if not store.is_file():
        return {}
    try:
        frame = pd.read_parquet(store)
        return {(p, int(s), int(m)): d for p, s, m, d in frame[_COLUMNS].itertuples(index=False)}
    except (OSError, ValueError, KeyError):
        return {}


def _latest_per_file(known: dict[tuple[str, int, int], str]) -> dict[tuple[str, int, int], str]:
    """``known`` with at most the newest _KEPT_PER_FILE entries of each path, in their order."""
    counts: Counter[str] = Counter()
    kept = []
    for key in reversed(list(known)):
        if counts[key[0]] < _KEPT_PER_FILE:
            counts[key[0]] += 1
            kept.append(key)
    return {key: known[key] for key in reversed(kept)}


def _save(store: Path, known: dict[tuple[str, int, int], str]) -> None:
    frame = pd.DataFrame([(*key, digest) for key, digest in known.items()], columns=_COLUMNS)
    try:
        save_parquet(frame, store)
    except OSError as error:  # the digests are right; only next time's shortcut is lost
        warnings.warn(f"{store}: cannot keep the image digests there ({error}); they are computed again next time",
                      stacklevel=3)


def array_digests(faces: Any, directory: Path) -> list[str]:
    """The SHA-256 of each face (first axis) of a pack's face array, kept in ``directory`` (its unpacked folder,
    which is keyed by the pack file's path, size and time) after the first call."""
    store = Path(directory) / "face_digests.parquet"
    if store.is_file():
        digests = pd.read_parquet(store)["sha256"].tolist()
        if len(digests) == len(faces):
            return digests
    digests = [hashlib.sha256(np.ascontiguousarray(face).tobytes()).hexdigest() for face in faces]
    _save_digests(store, digests)
    return digests


def _save_digests(store: Path, digests: list[str]) -> None:
    try:
        save_parquet(pd.DataFrame({"sha256": digests}), store)
    except OSError as error:
        warnings.warn(f"{store}: cannot keep the face digests there ({error}); they are computed again next time",
                      stacklevel=3)
