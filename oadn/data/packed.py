"""Reading a packed data set: one ``.tar.xz`` made by ``oadn-bench pack`` stands in for a copy plus its cache.

Point any on-disk data set at the file (``--set data.root=ferplus.pack``, ``evaluate RUN --data
occlusion-ferplus --root ferplus.pack``): the file is unpacked once into ``<cache root>/packed/`` (keyed by
the file's path, size and time), the data set's own label files inside it give the index (labels, splits,
subsets exactly as from the original copy), and faces are read from one uint8 array instead of decoded and
warped image by image, so a worker spends microseconds per face.

Faces are stored at the pack's size; another ``image_size`` is a bilinear resize of them (for data sets of
aligned crops packed at their own size, FERPlus at 48 px, this is the same resize the prepared source does, so
the faces are identical). Landmarks are the cache's own, moved to ``image_size`` as the prepared source moves them.
A batch is a slice of that array, faces as packed (a grey face stays one channel), resized and made RGB on the
device (:func:`oadn.data.aligned_frame.resize_faces`, within one grey level of Pillow's resize).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from oadn.data.aligned_frame import rescale_points, resize_faces
from oadn.data.landmarks.base import canonical_spec
from oadn.data.on_disk import OnDiskDatasetAdapter
from oadn.data.pack_archive import unpack
from oadn.data.prepared.source import PreparedFaces, ReadOptions

PACK_FORMAT = 1


class Pack:
    """An unpacked pack: its metadata, per-face table and arrays (memory-mapped, shared by loader workers)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.meta = json.loads((self.directory / "pack.json").read_text())
        if self.meta.get("format") != PACK_FORMAT:
            raise ValueError(f"{self.directory}/pack.json: pack format {self.meta.get('format')}, "
                             f"expected {PACK_FORMAT}")
        self.table = pd.read_parquet(self.directory / "faces.parquet")
        self.images = np.load(self.directory / "images.npy", mmap_mode="r")
        self.landmarks = np.load(self.directory / "landmarks.npy", mmap_mode="r")

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    @property
    def root(self) -> Path:
        """Where the data set's own label files are, laid out as in the original copy."""
        return self.directory / "files"


class PackedSource(PreparedFaces):
    """One split of a packed data set: faces as packed (a grey face keeps one channel), read as slices of the
    pack's array and resized to ``image_size`` on the device."""

    def __init__(self, classes: Sequence[str], table: pd.DataFrame, pack: Pack, image_size: int, pack_key: str):
        rows = table["row"].to_numpy(np.int64)
        frame = int(pack.meta["landmark_frame"])
        super().__init__(classes, table, rescale_points(np.asarray(pack.landmarks[rows]), frame, image_size),
                         image_size)
        self._pack = pack
        self._rows = rows
        self._fingerprint = f"pack:{pack_key}|{hashlib.sha256(rows.tobytes()).hexdigest()[:16]}|{image_size}"

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def _path(self, index: int) -> str:
        return f"pack row {self._rows[index]}"

    def _pixels(self, indices: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        faces = np.asarray(self._pack.images[self._rows[indices]])
        if faces.shape[1] > self.image_size and len(faces):  # fewer bytes to move: resized here, not on the device
            import torch

            resized = resize_faces(torch.from_numpy(faces).permute(0, 3, 1, 2), self.image_size)[:, :faces.shape[3]]
            faces = resized.mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        return faces, {}


@lru_cache(maxsize=8)
def _pack_at(directory: Path) -> Pack:
    """The unpacked pack in ``directory``, read once per process (a run opens several of its splits)."""
    return Pack(directory)


def open_pack(adapter: OnDiskDatasetAdapter, pack_file: Path, *, cache_dir: Path | None = None,
              landmarks: str | None = None, align: str | None = None) -> Pack:
    """``pack_file`` unpacked, refused (ValueError) when it packs another data set, or other landmarks or
    alignment than asked for."""
    pack = _pack_at(unpack(pack_file, cache_dir))
    source = pack.meta["source"]
    if pack.meta["dataset"] != adapter.cache_name:
        raise ValueError(f"{pack_file} packs {pack.meta['dataset']!r}, not {adapter.cache_name!r} ({adapter.name})")
    if landmarks is not None and canonical_spec(landmarks) != source["landmarks"]:
        raise ValueError(f"{pack_file} holds {source['landmarks']} landmarks, not {landmarks}")
    if align is not None and align != source["align"]:
        raise ValueError(f"{pack_file} was aligned with align={source['align']}, not {align}")
    return pack


def open_packed_split(
    adapter: OnDiskDatasetAdapter, pack_file: Path, split: str, *, image_size: int, **options: Any
) -> PackedSource:
    """``split`` of ``adapter`` read from a pack file (``options`` and policies as for a prepared cache)."""
    read = ReadOptions.parse("packed", options)
    pack = open_pack(adapter, pack_file, cache_dir=read.cache_dir, landmarks=read.landmarks, align=read.align)
    index = adapter.index(pack.root)
    if split not in set(index["split"]):
        raise KeyError(f"data set {adapter.name!r} has no split {split!r}; it has {', '.join(adapter.splits)}")
    rows = index[index["split"] == split].drop(columns=["landmarks68", "path"], errors="ignore")
    faces = pack.table.assign(row=np.arange(len(pack.table)))
    table = rows.merge(faces, on="image_id", how="left")
    missing = table["row"].isna()
    if missing.any():
        raise RuntimeError(
            f"{pack_file}: {int(missing.sum())} image(s) of split {split!r} are not in the pack "
            f"(e.g. {table.loc[missing, 'image_id'].iloc[0]}); pack the data set again"
        )
    table["row"] = table["row"].astype(np.int64)
    if read.policy == "drop":
        table = table[table["status"] == "ok"]
    return PackedSource(adapter.classes, table, pack, image_size, pack.directory.name)
