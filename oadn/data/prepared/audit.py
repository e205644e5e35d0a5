"""Before ``prepare`` works: is the root a directory, is the cache writable, and what in the cache is still good.

The audit repairs what it can name: a damaged chunk is removed (its images are prepared again), rows of an
older cache without file stats get the current ones (recorded once, with a note), rows of files the caller knows
to hold the same bytes under a new time get their new stats, and images whose file changed at the root since
they were prepared are handed back as work. A chunk from another data set is an
error: it is the user's file to remove, not ours to guess about.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from oadn.data.prepared.cache import (
    SCHEMA,
    DamagedChunkError,
    ForeignChunkError,
    PreparedCache,
    changed_mask,
    file_stats,
    to_frame,
)

#: what the audit needs of each row (the landmark lists are left in arrow: converting them is the slow part)
_AUDIT_COLUMNS = ["image_id", "file_size", "file_mtime_ns"]


def require_root(root: Path) -> Path:
    """``root`` if it is a directory, else a named FileNotFoundError / NotADirectoryError."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: data set root does not exist (pass --root the folder of your copy)")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: data set root is a file, not a folder (pass --root the folder of your copy)")
    return root


def require_writable(directory: Path) -> None:
    """PermissionError unless ``directory`` (or, when it does not exist yet, its nearest parent) is writable."""
    probe = Path(directory)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"{probe}: cache directory is not writable; pass --cache-dir (or set OADN_CACHE) to a "
                              "writable folder")


@dataclass
class Audit:
    """The cache's good rows for this index, and what the audit did or found."""

    table: pd.DataFrame
    #: damaged chunks (removed, when repairing), each with why
    removed_chunks: list[str] = field(default_factory=list)
    #: rows without recorded file stats (recorded now, when repairing)
    migrated: int = 0
    #: images whose file has other stats than those recorded when they were prepared
    changed: set[str] = field(default_factory=set)


def audit_cache(cache: PreparedCache, index: pd.DataFrame, *, repair: bool,
                touched: frozenset[str] | set[str] = frozenset()) -> Audit:
    """Read every chunk of ``cache`` against ``index`` (image_id, path). With ``repair``, damaged chunks are
    removed and unrecorded file stats are written, and so are the current stats of the ``touched`` images (files
    the caller found to hold the bytes they were prepared from); without it, nothing is written (a dry look)."""
    paths_by_id = dict(zip(index["image_id"].astype(str), index["path"].astype(str)))
    removed: list[str] = []
    migrated = 0
    tables = []
    for path in cache.chunk_paths():
        try:
            table = cache.read_chunk(path)
        except DamagedChunkError as error:
            if repair:
                path.unlink()
            removed.append(str(error))
            continue
        ids = table.column("image_id").to_pylist()
        # a tagged chunk was checked as ours by read_chunk: its images may simply be gone from the root
        if ids and not any(i in paths_by_id for i in ids) and not cache.is_tagged(path):
            raise ForeignChunkError(f"{path}: none of its {len(ids)} images belong to this data set at this root "
                                    f"(e.g. {ids[0]!r}); it was copied from another cache: remove the file")
        table, missing, renewed = _record_current_stats(table, paths_by_id, touched)
        if (missing or renewed) and repair:
            cache.write_chunk(path, table)
        migrated += missing
        tables.append(table.select(_AUDIT_COLUMNS))
    rows = to_frame(pa.concat_tables(tables) if tables else SCHEMA.empty_table().select(_AUDIT_COLUMNS))
    rows = rows.drop_duplicates("image_id", keep="last")
    rows = rows[rows["image_id"].isin(paths_by_id)].reset_index(drop=True)
    changed, _ = changed_mask(rows, [paths_by_id[i] for i in rows["image_id"]])
    return Audit(rows, removed, migrated, set(rows.loc[changed, "image_id"]))


def _record_current_stats(table: pa.Table, paths_by_id: dict[str, str],
                          touched: frozenset[str] | set[str]) -> tuple[pa.Table, int, int]:
    """The chunk with current file stats where it has none (caches from before they were recorded) and for the
    ``touched`` images; with how many rows of each. Stays in arrow: converting the landmark lists to pandas and
    back would cost seconds per chunk."""
    ids = table.column("image_id").to_pylist()
    renew = [i in touched and i in paths_by_id for i in ids]
    if table.column("file_size").null_count == 0 and not any(renew):
        return table, 0, 0
    missing = [size is None and i in paths_by_id for i, size in zip(ids, table.column("file_size").to_pylist())]
    wanted = [m or r for m, r in zip(missing, renew)]
    sizes, mtimes = file_stats([paths_by_id[i] if w else "" for i, w in zip(ids, wanted)])
    # a file that cannot be stat'ed (gone: recorded unreadable) has no stats to record, now or at the next call
    wanted = [w and size is not None for w, size in zip(wanted, sizes)]
    mask = pa.array(wanted)
    for name, values in (("file_size", sizes), ("file_mtime_ns", mtimes)):
        filled = pc.if_else(mask, pa.array(values, pa.int64()), table.column(name))
        table = table.set_column(table.schema.get_field_index(name), name, filled)
    return table, sum(m and w for m, w in zip(missing, wanted)), sum(r and w for r, w in zip(renew, wanted))
