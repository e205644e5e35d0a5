"""The prepared cache: a directory of parquet chunks plus ``meta.json``, one per (data set, root, options).

Location: ``${OADN_CACHE:-~/.cache/oadn-bench}/prepared/<dataset>/<backend>-<key>/`` where ``key`` hashes the
resolved root, the landmark spec and the alignment mode. Each chunk is written to a hidden temporary file and
renamed into place, so a killed run leaves only whole chunks and the next run processes just the images no
chunk holds yet. Data roots are never written to.

One row per image (columns):
    image_id     str
    status       str   ok | no_face | no_landmarks | unreadable
    reason       str   why, for a failed image; empty when ok
    note         str   how the landmarks were found (e.g. which box dlib used)
    x, y, score  list<float32>[68]  landmarks in the aligned frame at ``meta.reference_size``; score 0 = missing
    transform    list<float64>[6]   row-major 2 x 3 matrix: original image pixels -> aligned frame pixels
    box          list<float64>[4]   face box x0 y0 x1 y1 in the aligned frame handed to the landmarker (or empty)
    detector     str   alignment source with version (e.g. "mtcnn facenet-pytorch 2.5.3", "none (aligned crop)")
    landmarker   str   landmark backend with version and whether it has real scores
    file_size, file_mtime_ns  int64  the image file's size and modification time when it was prepared, so a
                 changed copy at the root is noticed and re-prepared (null in caches written before they were
                 recorded: ``prepare`` records the current values on first use and says so)

Reading keeps the last row written for an image (a re-prepared image is appended, not rewritten in place).
Each chunk records in its parquet metadata the data set and cache directory it was written for, so a chunk
copied in from another cache is refused by name; a chunk that cannot be read is "damaged": ``prepare``
removes it and prepares its images again, readers say to run ``prepare``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from oadn.common.files import atomic_write, read_json, save_bytes
from oadn.data.ibug68 import NUM_LANDMARKS

STATUSES = ("ok", "no_face", "no_landmarks", "unreadable")
SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("note", pa.string()),
        ("x", pa.list_(pa.float32(), NUM_LANDMARKS)),
        ("y", pa.list_(pa.float32(), NUM_LANDMARKS)),
        ("score", pa.list_(pa.float32(), NUM_LANDMARKS)),
        ("transform", pa.list_(pa.float64(), 6)),
        ("box", pa.list_(pa.float64())),
        ("detector", pa.string()),
        ("landmarker", pa.string()),
        ("file_size", pa.int64()),
        ("file_mtime_ns", pa.int64()),
    ]
)
#: columns added after the first release; chunks without them read as null
STAT_COLUMNS = ("file_size", "file_mtime_ns")
_CHUNK_META_KEY = b"oadn.chunk"


class DamagedChunkError(RuntimeError):
    """A cache chunk that cannot be read (deleted half-way, truncated, overwritten)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: damaged cache chunk ({reason})")
        self.path = path


class ForeignChunkError(RuntimeError):
    """A cache chunk written for another data set or cache directory."""


CACHE_FORMAT = 1
#: cache directory -> (chunk signature, its whole read): the last whole read of each cache in this process
_WHOLE_READS: dict[str, tuple[tuple, pd.DataFrame]] = {}


def cache_root(cache_dir: Path | None = None) -> Path:
    """``cache_dir`` if given, else ``$OADN_CACHE``, else ``~/.cache/oadn-bench``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("OADN_CACHE", "~/.cache/oadn-bench")).expanduser()


def cache_key(root: Path, landmarks: str, align: str) -> str:
    text = json.dumps({"root": str(Path(root).resolve()), "landmarks": landmarks, "align": align}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class PreparedCache:
    """One cache directory: its metadata, the rows written so far, and atomic chunk writes."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @classmethod
    def locate(cls, dataset: str, root: Path, landmarks: str, align: str,
               cache_dir: Path | None = None) -> "PreparedCache":
        backend = landmarks.partition(":")[0]
        return cls(cache_root(cache_dir) / "prepared" / dataset / f"{backend}-{cache_key(root, landmarks, align)}")

    @property
    def meta_path(self) -> Path:
        return self.directory / "meta.json"

    def exists(self) -> bool:
        return self.meta_path.is_file()

    def read_meta(self) -> dict[str, Any]:
        return read_json(self.meta_path, f"the cache {self.directory} cannot be used: remove it and run "
                                         f"`oadn-bench prepare` again")

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Create the directory with ``meta``; an existing cache must have been made with the same settings."""
        meta = {"format": CACHE_FORMAT, **meta}
        if self.exists():
            old = self.read_meta()
            fixed = ("format", "dataset", "root", "landmarks", "align", "reference_size", "template")
            changed = [k for k in fixed if old.get(k) != meta.get(k)]
            if changed:
                raise RuntimeError(f"{self.meta_path}: made with other settings ({', '.join(changed)}); delete it")
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        save_bytes(json.dumps(meta, indent=2).encode(), self.meta_path)

    def chunk_paths(self) -> list[Path]:
        return sorted(self.directory.glob("chunk-*.parquet"))

    @functools.cached_property
    def _identity(self) -> dict[str, str]:
        """What every chunk is tagged with; read once (a cache's data set never changes: write_meta refuses)."""
        return {"dataset": str(self.read_meta().get("dataset", "")), "cache": self.directory.name}

    def is_tagged(self, path: Path) -> bool:
        """Whether a chunk names the data set and cache it was written for (chunks of the first release do not)."""
        return _CHUNK_META_KEY in (pq.read_schema(path).metadata or {})

    def read_chunk(self, path: Path) -> pa.Table:
        """One chunk in the current schema; DamagedChunkError / ForeignChunkError name what is wrong."""
        try:
            table = pq.read_table(path)
        except FileNotFoundError:
            raise DamagedChunkError(path, "deleted while reading") from None
        except (OSError, pa.ArrowException) as error:
            raise DamagedChunkError(path, f"{type(error).__name__}: {error}") from None
        written_for = (table.schema.metadata or {}).get(_CHUNK_META_KEY)
        if written_for is not None:
            origin = json.loads(written_for)
            if origin != self._identity:
                raise ForeignChunkError(
                    f"{path}: chunk written for data set {origin.get('dataset')!r} in cache {origin.get('cache')}, "
                    f"not for {self._identity['dataset']!r} in {self.directory.name}; remove the file"
                )
        for name in STAT_COLUMNS:
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(len(table), pa.int64()))
        try:
            return table.select(SCHEMA.names).cast(SCHEMA).replace_schema_metadata(None)
        except (KeyError, pa.ArrowException) as error:
            raise DamagedChunkError(path, f"not a cache chunk of this format: {error}") from None

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The latest row of every image written so far (empty frame with the schema's columns when none);
        ``columns`` (image_id is always included) keeps the others in arrow, unconverted. A whole read is kept per
        process while no chunk changes (a run opens several splits of one cache)."""
        names = None if columns is None else ["image_id", *(c for c in columns if c != "image_id")]
        paths = self.chunk_paths()
        if names is None:
            try:
                signature = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
            except OSError:  # a chunk replaced meanwhile: read what is there now, keep nothing
                return self._read(self.chunk_paths(), None)
            if _WHOLE_READS.get(str(self.directory), (None,))[0] != signature:
                _WHOLE_READS[str(self.directory)] = (signature, self._read(paths, None))
            return _WHOLE_READS[str(self.directory)][1].copy()
        return self._read(paths, names)

    def _read(self, paths: list[Path], names: list[str] | None) -> pd.DataFrame:
        if not paths:
            empty = SCHEMA.empty_table()
            return to_frame(empty if names is None else empty.select(names))
        tables = [self.read_chunk(p) for p in paths]
        table = to_frame(pa.concat_tables(tables if names is None else [t.select(names) for t in tables]))
        return table.drop_duplicates("image_id", keep="last").reset_index(drop=True)

    def append(self, rows: list[dict[str, Any]]) -> Path:
        """Write ``rows`` as the next chunk, atomically, tagged with the data set and cache it belongs to."""
        paths = self.chunk_paths()
        number = int(paths[-1].stem.split("-")[1]) + 1 if paths else 0
        path = self.directory / f"chunk-{number:06d}.parquet"
        self.write_chunk(path, pa.Table.from_pylist(rows, schema=SCHEMA))
        return path

    def write_chunk(self, path: Path, table: pa.Table) -> None:
        """Write (or atomically replace) one chunk."""
        table = table.replace_schema_metadata({_CHUNK_META_KEY: json.dumps(self._identity).encode()})
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas frame of cache rows whose int64 columns stay exact when some are null (nullable Int64: a float64
    column would round nanosecond mtimes and make every image look changed)."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def file_stats(paths: list[str]) -> tuple[list[int | None], list[int | None]]:
    """Size and modification time (ns) of each file, None for a file that cannot be stat'ed."""
    sizes: list[int | None] = []
    mtimes: list[int | None] = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            sizes.append(None)
            mtimes.append(None)
            continue
        sizes.append(stat.st_size)
        mtimes.append(stat.st_mtime_ns)
    return sizes, mtimes


def changed_mask(recorded: pd.DataFrame, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(changed, unrecorded): per row of ``recorded`` (with file_size/file_mtime_ns), whether the file at the
    matching path now has another size or mtime, and whether the cache recorded none (older caches)."""
    sizes, mtimes = file_stats(paths)
    old_size = recorded["file_size"].to_numpy(dtype=object)
    old_mtime = recorded["file_mtime_ns"].to_numpy(dtype=object)
    # a file missing now and then (an unreadable row) has nothing to record: it is not "unrecorded"
    unrecorded = np.array([(pd.isna(a) or pd.isna(b)) and s is not None for a, b, s in zip(old_size, old_mtime, sizes)],
                          dtype=bool)
    changed = np.array(
        [not u and (s is not None) and (s != a or m != b)
         for u, s, m, a, b in zip(unrecorded, sizes, mtimes, old_size, old_mtime)],
        dtype=bool,
    )
    return changed, unrecorded


def transform_matrix(row: pd.Series | dict) -> np.ndarray:
    return np.asarray(row["transform"], dtype=np.float64).reshape(2, 3)
