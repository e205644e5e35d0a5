"""``oadn-bench pack``: a prepared data set as one lzma-compressed file, so a GPU machine needs only that file.

The file is a ``.tar.xz`` holding ``pack.json`` (what was packed, from which cache), ``faces.parquet`` (image id,
preparation status and reason per face), ``images.npy`` (N x S x S x C uint8 aligned faces at the chosen size
S; C = 1 when every face is grayscale, as FERPlus' are), ``landmarks.npy`` (N x 68 x 3 float32, the cache's
own values in its reference frame, so they are exact and dlib's whole-pixel points compress well)
and ``files/`` (the data set's own label and list files, so its adapter indexes the pack as it indexes the
copy). A delta filter before LZMA2 codes each byte as its difference from the previous one, which compresses
neighbouring grey levels better (docs/performance.md). ``oadn.data.packed`` reads it back.
"""

from __future__ import annotations

import io
import json
import lzma
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from oadn.common.files import save_bytes
from oadn.data.aligned_frame import rescale_transform, warp_image
from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.data.images import decode_rgb, image_extensions
from oadn.data.on_disk import OnDiskDatasetAdapter
from oadn.data.packed import PACK_FORMAT
from oadn.data.prepared.cache import transform_matrix
from oadn.data.prepared.source import find_cache, prepare_command_line, prepared_rows

#: text files larger than this are not copied (label and list files are far smaller)
MAX_LABEL_FILE = 64 * 2**20
XZ_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": 1}, {"id": lzma.FILTER_LZMA2, "preset": 9}]


def label_files(root: Path) -> list[Path]:
    """Every non-image file under ``root`` (label files, lists, licences), relative to it."""
    images = image_extensions()
    return sorted(
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and path.suffix.lower() not in images and path.stat().st_size <= MAX_LABEL_FILE
    )


def aligned_faces(
    table: pd.DataFrame, reference_size: int, size: int, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """N x S x S x 3 uint8 faces rendered through each row's cached transform (zeros for unreadable files)."""

    images = np.zeros((len(table), size, size, 3), dtype=np.uint8)
    for i, row in enumerate(table[["path", "status", "transform"]].to_dict("records")):
        if row["status"] != "unreadable":
            matrix = rescale_transform(transform_matrix(row), reference_size, size)
            images[i] = warp_image(decode_rgb(row["path"]), matrix, size)
        if progress is not None and (i % 1000 == 0 or i == len(table) - 1):
            progress(i + 1, len(table))
    return images


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array))
    return buffer.getvalue()


def check_indexable(adapter: OnDiskDatasetAdapter, root: Path, files: list[Path], wanted: pd.Series) -> None:
    """A pack carries the label files, not the image files: refuse, before any work, a data set that cannot find
    its images from those alone (one that reads its labels from class folders), whose pack could not be read back."""
    with tempfile.TemporaryDirectory() as scratch:
        for relative in files:
            (Path(scratch) / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, Path(scratch) / relative)
        try:
            found = set(adapter.preparation_index(Path(scratch))["image_id"])
        except (FileNotFoundError, ValueError) as error:
            found, why = set(), f" ({error})"
        else:
            why = ""
    if not set(wanted) <= found:
        raise ValueError(f"{adapter.name} cannot be packed: it finds its images by scanning the image files, which a "
                         f"pack does not carry{why}; train from the folder and its prepared cache instead")


def pack_dataset(
    adapter: OnDiskDatasetAdapter,
    root: Path,
    out: Path,
    *,
    size: int,
    cache_dir: Path | None = None,
    landmarks: str | None = None,
    align: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the pack of ``adapter``'s prepared copy at ``root`` to ``out``; returns its pack.json contents."""
    root = Path(root)
    cache = find_cache(adapter.cache_name, root, landmarks=landmarks, align=align, cache_dir=cache_dir)
    meta = cache.read_meta()
    wanted = adapter.preparation_index(root)[["image_id", "path"]].drop_duplicates("image_id")
    files = label_files(root)
    check_indexable(adapter, root, files, wanted["image_id"])
    command = prepare_command_line(adapter.cache_name, root, landmarks=meta["landmarks"], align=meta["align"],
                              cache_dir=cache_dir)
    table = prepared_rows(cache, wanted, command)  # as training reads the cache: stale or NaN faces never packed
    images = aligned_faces(table, meta["reference_size"], size, progress)
    grayscale = bool((images[..., :1] == images[..., 1:]).all())
    if grayscale:
        images = images[..., :1]
    points = np.stack([np.array(table[c].tolist(), dtype=np.float32) for c in ("x", "y", "score")], axis=-1)
    points = points.reshape(-1, NUM_LANDMARKS, 3)
    pack_meta = {
        "format": PACK_FORMAT,
        "dataset": adapter.cache_name,
        "size": size,
        "channels": int(images.shape[-1]),
        "count": len(table),
        "landmark_frame": meta["reference_size"],
        "source": {k: meta[k] for k in ("root", "landmarks", "align", "reference_size")},
        "statuses": table["status"].value_counts().to_dict(),
        "files": [str(f) for f in files],
    }
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _add_bytes(archive, "pack.json", json.dumps(pack_meta, indent=2).encode())
        faces = io.BytesIO()
        table[["image_id", "status", "reason"]].to_parquet(faces, index=False)
        _add_bytes(archive, "faces.parquet", faces.getvalue())
        _add_bytes(archive, "images.npy", _npy(images))
        _add_bytes(archive, "landmarks.npy", _npy(points))
        for relative in files:
            _add_bytes(archive, f"files/{relative.as_posix()}", (root / relative).read_bytes())
    save_bytes(lzma.compress(tar_bytes.getvalue(), format=lzma.FORMAT_XZ, filters=XZ_FILTERS), Path(out))
    return pack_meta
