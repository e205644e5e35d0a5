"""Reading a prepared cache back as a :class:`~oadn.data.faces.FaceSource` (what training and evaluation see).

Images are read from the user's copy and rendered through the cached alignment transform at the requested
size; landmarks come from the cache, moved to that size. Labels come from the adapter index.

Images that failed preparation follow ``policy``:
- ``keep-invisible`` (default; never changes the number of evaluated images): a face that was not found or
  not landmarked is kept, the whole image resized, all 68 scores 0, so OADN relies on its region branch;
  an unreadable file stays in the split and raises :class:`~oadn.data.faces.BadImageError` when read;
- ``drop``: every failed image is left out of the split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from oadn.data.faces import BadImageError, FaceRecord
from oadn.data.index import OnDiskDatasetAdapter
from oadn.preprocess.alignment import rescale_points, rescale_transform, warp_image
from oadn.preprocess.cache import PreparedCache, cache_root, landmarks_array, transform_matrix
from oadn.preprocess.landmarks.base import canonical_spec
from oadn.preprocess.prepare import read_rgb

POLICIES = ("keep-invisible", "drop")


def find_cache(
    dataset: str, root: Path, *, landmarks: str | None = None, align: str | None = None, cache_dir: Path | None = None
) -> PreparedCache:
    """The cache prepared for ``dataset`` at ``root``; ``landmarks``/``align`` choose when there are several."""
    base = cache_root(cache_dir) / "prepared" / dataset
    wanted_root = str(Path(root).resolve())
    found = []
    for meta_path in sorted(base.glob("*/meta.json")):
        cache = PreparedCache(meta_path.parent)
        meta = cache.read_meta()
        if meta.get("root") != wanted_root:
            continue
        if landmarks is not None and meta.get("landmarks") != canonical_spec(landmarks):
            continue
        if align is not None and meta.get("align") != align:
            continue
        found.append(cache)
    command = f"oadn-bench prepare {dataset} --root {root}" + (f" --landmarks {landmarks}" if landmarks else "")
    if not found:
        raise FileNotFoundError(f"no prepared cache for {dataset!r} at {root} under {base}; run: {command}")
    if len(found) > 1:
        specs = ", ".join(f"{c.read_meta()['landmarks']} (align {c.read_meta()['align']})" for c in found)
        raise ValueError(f"several prepared caches for {dataset!r} at {root}: {specs}; pass landmarks= (and align=)")
    return found[0]


class PreparedSource:
    """One split of a prepared data set, as aligned faces at ``image_size``."""

    def __init__(self, classes: Sequence[str], table: pd.DataFrame, reference_size: int, image_size: int):
        self.classes = tuple(classes)
        self.table = table.reset_index(drop=True)
        self.reference_size = reference_size
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        return self.table["label"].to_numpy(np.int64)

    @property
    def image_ids(self) -> Sequence[str]:
        return self.table["image_id"].tolist()

    def __getitem__(self, index: int) -> FaceRecord:
        row = self.table.iloc[index]
        if row["status"] == "unreadable":
            raise BadImageError(row["image_id"], row["path"], row["reason"])
        try:
            image = read_rgb(row["path"])
        except (OSError, ValueError) as err:
            raise BadImageError(row["image_id"], row["path"], f"{type(err).__name__}: {err}") from err
        matrix = rescale_transform(transform_matrix(row), self.reference_size, self.image_size)
        points = rescale_points(landmarks_array(row), self.reference_size, self.image_size)
        soft = row.get("soft_target")
        return FaceRecord(
            image=warp_image(image, matrix, self.image_size),
            landmarks=points,
            label=int(row["label"]),
            image_id=str(row["image_id"]),
            soft_target=None if soft is None or np.isscalar(soft) else np.asarray(soft, dtype=np.float32),
        )


def open_prepared_split(
    adapter: OnDiskDatasetAdapter,
    root: Path,
    split: str,
    *,
    image_size: int,
    cache_dir: Path | None = None,
    landmarks: str | None = None,
    align: str | None = None,
    policy: str = "keep-invisible",
    **unknown: Any,
) -> PreparedSource:
    """``split`` of ``adapter`` at ``root`` read through its prepared cache (see the module docstring)."""
    if unknown:
        raise TypeError(f"unknown option(s) for a prepared split: {', '.join(sorted(unknown))}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    cache = find_cache(adapter.cache_name, root, landmarks=landmarks, align=align, cache_dir=cache_dir)
    index = adapter.index(Path(root))
    if split not in set(index["split"]):
        raise KeyError(f"data set {adapter.name!r} has no split {split!r}; it has {', '.join(adapter.splits)}")
    rows = index[index["split"] == split].drop(columns=["landmarks68"], errors="ignore")
    table = rows.merge(cache.read().drop(columns=["detector", "landmarker", "note"]), on="image_id", how="left")
    missing = table["status"].isna()
    if missing.any():
        meta = cache.read_meta()
        raise RuntimeError(
            f"{cache.directory}: {int(missing.sum())} image(s) of split {split!r} are not prepared yet "
            f"(e.g. {table.loc[missing, 'image_id'].iloc[0]}); run: oadn-bench prepare {adapter.cache_name} "
            f"--root {root} --landmarks {meta['landmarks']} --align {meta['align']}"
        )
    if policy == "drop":
        table = table[table["status"] == "ok"]
    return PreparedSource(adapter.classes, table, cache.read_meta()["reference_size"], image_size)
