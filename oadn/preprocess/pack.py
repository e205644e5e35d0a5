"""``oadn-bench pack``: a prepared data set as one lzma-compressed file, so a GPU machine needs only that file.

The file is a ``.tar.xz`` holding ``pack.json`` (what was packed, from which cache), ``faces.parquet`` (image id,
preparation status and reason per face), ``images.npy`` (N x S x S x C uint8 aligned faces at the chosen size
S; C = 1 when every face is grayscale, as FERPlus' are), ``landmarks.npy`` (N x 68 x 3 float32, the cache's
own values in its reference frame, so they are exact and dlib's whole-pixel points compress well)
and ``files/`` (the data set's own label and list files, so its adapter indexes the pack as it indexes the
copy). A delta filter before LZMA2 codes each byte as its difference from the previous one (FERPlus at 48 px:
55.9 MiB of faces against 57.6 with LZMA2 alone). ``oadn.data.packed`` reads it back.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd
import typer

from oadn.data.images import image_extensions
from oadn.data.index import OnDiskDatasetAdapter
from oadn.data.packed import PACK_FORMAT
from oadn.data.registry import get_dataset

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
    from oadn.preprocess.alignment import rescale_transform, warp_image
    from oadn.preprocess.cache import transform_matrix
    from oadn.data.images import decode_rgb

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
    from oadn.preprocess.prepared import find_cache, prepare_command, prepared_rows

    root = Path(root)
    cache = find_cache(adapter.cache_name, root, landmarks=landmarks, align=align, cache_dir=cache_dir)
    meta = cache.read_meta()
    wanted = adapter.preparation_index(root)[["image_id", "path"]].drop_duplicates("image_id")
    files = label_files(root)
    check_indexable(adapter, root, files, wanted["image_id"])
    command = prepare_command(adapter.cache_name, root, landmarks=meta["landmarks"], align=meta["align"],
                              cache_dir=cache_dir)
    table = prepared_rows(cache, wanted, command)  # as training reads the cache: stale or NaN faces never packed
    images = aligned_faces(table, meta["reference_size"], size, progress)
    grayscale = bool((images[..., :1] == images[..., 1:]).all())
    if grayscale:
        images = images[..., :1]
    points = np.stack([np.array(table[c].tolist(), dtype=np.float32) for c in ("x", "y", "score")], axis=-1)
    points = points.reshape(-1, 68, 3)
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
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(lzma.compress(tar_bytes.getvalue(), format=lzma.FORMAT_XZ, filters=XZ_FILTERS))
    os.replace(tmp, out)
    return pack_meta


def pack_command(
    name: str = typer.Argument(..., help="Registered data set name whose prepared cache is packed, e.g. ferplus."),
    root: Path = typer.Option(..., "--root", help="Your copy of the data set (read only)."),
    out: Path = typer.Option(..., "--out", help="The pack file to write, e.g. ferplus.pack (a .tar.xz)."),
    size: int = typer.Option(..., "--size", help="Face size in pixels stored (FERPlus' own: 48)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache root (default $OADN_CACHE or ~/.cache/oadn-bench)."),
    landmarks: Optional[str] = typer.Option(None, "--landmarks", help="Which prepared cache, when there are several."),
    align: Optional[str] = typer.Option(None, "--align", help="Which prepared cache, when there are several."),
) -> None:
    """Pack a prepared data set (aligned uint8 faces, landmarks, label files) into one lzma-compressed file.

    Train or evaluate from it by giving the file as the data set's root:
    --set data.root=FILE (train), --root FILE (evaluate).
    """
    from rich.console import Console

    console = Console()
    adapter = get_dataset(name)
    if not isinstance(adapter, OnDiskDatasetAdapter):
        raise typer.BadParameter(f"{name!r} is not an on-disk data set; nothing to pack", param_hint="NAME")
    started = time.perf_counter()
    meta = pack_dataset(
        adapter, root, out, size=size, cache_dir=cache_dir, landmarks=landmarks, align=align,
        progress=lambda done, total: console.print(f"faces {done}/{total}") if done == total else None,
    )
    console.print(
        f"{out}: {meta['count']} faces at {size} px x {meta['channels']} channel(s), {len(meta['files'])} label "
        f"file(s), {out.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - started:.0f} s"
    )
