"""Reading a packed data set: one ``.tar.xz`` made by ``oadn-bench pack`` stands in for a copy plus its cache.

Point any on-disk data set at the file (``--set data.root=ferplus.pack``, ``evaluate RUN --data
occlusion-ferplus --root ferplus.pack``): the file is unpacked once into ``<cache root>/packed/`` (keyed by
the file's path, size and time), the data set's own label files inside it give the index (labels, splits,
subsets exactly as from the original copy), and faces are read from one uint8 array instead of decoded and
warped image by image, so a worker spends microseconds per face.

Faces are stored at the pack's size; another ``image_size`` is a bilinear resize of them (for data sets of
aligned crops packed at their own size, FERPlus at 48 px, this is the same resize the prepared source does, so
the faces are identical). Landmarks are the cache's own, moved to ``image_size`` as the prepared source moves them.
The training and evaluation loaders read compact records instead: faces as packed (a grey face stays one
channel), resized and made RGB on the device, within one grey level of Pillow's resize.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from oadn.data.aligned_frame import rescale_points
from oadn.data.faces import BadImageError, FaceRecord
from oadn.data.index import OnDiskDatasetAdapter
from oadn.data.landmarks.base import canonical_spec
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
    """One split of a packed data set, as faces at ``image_size`` (the FaceSource contract)."""

    def __init__(self, classes: Sequence[str], table: pd.DataFrame, pack: Pack, image_size: int):
        rows = table["row"].to_numpy(np.int64)
        frame = int(pack.meta["landmark_frame"])
        super().__init__(classes, table, rescale_points(np.asarray(pack.landmarks[rows]), frame, image_size),
                         image_size)
        self._pack = pack
        self._rows = rows

    def _stored(self, index: int) -> np.ndarray:
        """S x S x C uint8 as packed (C = 1 for grey data sets)."""
        if self._unreadable[index]:
            raise BadImageError(self._ids[index], f"pack row {self._rows[index]}", self._reasons[index])
        return np.asarray(self._pack.images[self._rows[index]])

    def _resized(self, image: np.ndarray) -> np.ndarray:
        """``image`` at ``image_size`` (bilinear, as the prepared source resizes), channels kept."""
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        resized = np.asarray(pil.resize((self.image_size, self.image_size), Image.BILINEAR))
        return resized.reshape(self.image_size, self.image_size, image.shape[-1])

    def __getitem__(self, index: int) -> FaceRecord:
        image = self._stored(index)
        if image.shape[0] != self.image_size:
            image = self._resized(image)
        if image.shape[-1] == 1:  # grey to RGB; torch's expand copies faster than np.repeat (docs/performance.md)
            image = torch.from_numpy(np.array(image)).expand(-1, -1, 3).contiguous().numpy()
        return self._record(index, image)

    def compact_record(self, index: int) -> FaceRecord:
        """The face for the loader: as packed, grey kept as one channel, resized on the device (see
        :func:`oadn.data.faces.read_compact`); a face packed larger than ``image_size`` is resized here, which
        leaves fewer bytes to move."""
        image = self._stored(index)
        if image.shape[0] > self.image_size:
            image = self._resized(image)
        return self._record(index, image, frame=self.image_size)


def open_pack(adapter: OnDiskDatasetAdapter, pack_file: Path, *, cache_dir: Path | None = None,
              landmarks: str | None = None, align: str | None = None) -> Pack:
    """``pack_file`` unpacked, refused (ValueError) when it packs another data set, or other landmarks or
    alignment than asked for."""
    pack = Pack(unpack(pack_file, cache_dir))
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
    return PackedSource(adapter.classes, table, pack, image_size)
