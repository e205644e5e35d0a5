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
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

STATUSES = ("ok", "no_face", "no_landmarks", "unreadable")
SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("note", pa.string()),
        ("x", pa.list_(pa.float32(), 68)),
        ("y", pa.list_(pa.float32(), 68)),
        ("score", pa.list_(pa.float32(), 68)),
        ("transform", pa.list_(pa.float64(), 6)),
        ("box", pa.list_(pa.float64())),
        ("detector", pa.string()),
        ("landmarker", pa.string()),
    ]
)
CACHE_FORMAT = 1


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
    def locate(cls, dataset: str, root: Path, landmarks: str, align: str, cache_dir: Path | None = None) -> "PreparedCache":
        backend = landmarks.partition(":")[0]
        return cls(cache_root(cache_dir) / "prepared" / dataset / f"{backend}-{cache_key(root, landmarks, align)}")

    @property
    def meta_path(self) -> Path:
        return self.directory / "meta.json"

    def exists(self) -> bool:
        return self.meta_path.is_file()

    def read_meta(self) -> dict[str, Any]:
        return json.loads(self.meta_path.read_text())

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
        _atomic_write_bytes(self.meta_path, json.dumps(meta, indent=2).encode())

    def chunk_paths(self) -> list[Path]:
        return sorted(self.directory.glob("chunk-*.parquet"))

    def read(self) -> pd.DataFrame:
        """All rows written so far (empty frame with the schema's columns when none)."""
        paths = self.chunk_paths()
        if not paths:
            return SCHEMA.empty_table().to_pandas()
        return pa.concat_tables([pq.read_table(p, schema=SCHEMA) for p in paths]).to_pandas()

    def done_ids(self) -> set[str]:
        paths = self.chunk_paths()
        return {i for p in paths for i in pq.read_table(p, columns=["image_id"]).column(0).to_pylist()}

    def append(self, rows: list[dict[str, Any]]) -> Path:
        """Write ``rows`` as the next chunk, atomically."""
        paths = self.chunk_paths()
        number = int(paths[-1].stem.split("-")[1]) + 1 if paths else 0
        path = self.directory / f"chunk-{number:06d}.parquet"
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        tmp = self.directory / f".{path.name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        return path


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def transform_matrix(row: pd.Series | dict) -> np.ndarray:
    return np.asarray(row["transform"], dtype=np.float64).reshape(2, 3)
