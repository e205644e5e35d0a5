"""Reading a prepared cache back as a :class:`~oadn.data.faces.FaceSource` (what training and evaluation see).

Images are read from the user's copy and rendered through the cached alignment transform at the requested
size once, into a face store beside the cache (:mod:`oadn.data.prepared.store`); a batch is then a slice of it.
Landmarks come from the cache, moved to that size. Labels come from the adapter index.

Images that failed preparation follow ``policy``:
- ``keep-invisible`` (default; never changes the number of evaluated images): a face that was not found or
  not landmarked is kept, the whole image resized, all 68 scores 0, so OADN relies on its region branch;
  an unreadable file stays in the split and raises :class:`~oadn.data.faces.BadImageError` when read;
- ``drop``: every failed image is left out of the split.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from oadn.common.commands import command_line
from oadn.common.seeding import item_keys
from oadn.data.aligned_frame import rescale_points, rescale_transform, warp_image
from oadn.data.faces import FaceBatch, FaceSource, soft_target_array
from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.data.images import ImageDecodeError, decode_rgb
from oadn.data.landmarks.base import canonical_spec
from oadn.data.on_disk import OnDiskDatasetAdapter
from oadn.data.prepared.audit import require_root
from oadn.data.prepared.cache import DamagedChunkError, PreparedCache, cache_root, changed_mask, transform_matrix
from oadn.data.prepared.store import FaceStore, store_key

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
    command = prepare_command_line(dataset, root, landmarks=landmarks, cache_dir=cache_dir)
    if not found:
        raise FileNotFoundError(f"no prepared cache for {dataset!r} at {root} under {base}; run: {command}")
    if len(found) > 1:
        specs = ", ".join(f"{c.read_meta()['landmarks']} (align {c.read_meta()['align']})" for c in found)
        raise ValueError(f"several prepared caches for {dataset!r} at {root}: {specs}; pass landmarks= (and align=)")
    return found[0]


def prepare_command_line(dataset: str, root: Path, *, landmarks: str | None = None, align: str | None = None,
                    cache_dir: Path | None = None) -> str:
    """The exact ``prepare`` command that makes (or repairs) this cache, quoted for a shell."""
    parts = ["oadn-bench", "prepare", dataset, "--root", root]
    parts += ["--landmarks", landmarks] if landmarks else []
    parts += ["--align", align] if align else []
    parts += ["--cache-dir", cache_dir] if cache_dir is not None else []
    return command_line(*parts)


class PreparedFaces(FaceSource):
    """What every split read from a preparation (a cache, a pack) holds per face, as arrays built once so that
    reading a batch (the loader's hot path) is a few slices: id, key, label, soft target, landmarks at
    ``image_size``, and why a face is unreadable. Subclasses say where the pixels come from."""

    def __init__(self, classes: Sequence[str], table: pd.DataFrame, landmarks: np.ndarray, image_size: int):
        self.classes = tuple(classes)
        self.image_size = image_size
        self._ids = table["image_id"].astype(str).tolist()
        self._keys = item_keys(self._ids)
        self._labels = table["label"].to_numpy(np.int64)
        self._unreadable = (table["status"] == "unreadable").to_numpy()
        self._reasons = table["reason"].fillna("").astype(str).tolist()
        self._landmarks = np.ascontiguousarray(landmarks, dtype=np.float32)
        self._soft = soft_target_array(table)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    @property
    def image_ids(self) -> Sequence[str]:
        return self._ids

    def _path(self, index: int) -> str:
        """Where face ``index`` comes from, for messages about it."""
        raise NotImplementedError

    def _pixels(self, indices: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        """B x S x S x C uint8 of faces ``indices``, and the ones among them that failed to decode now (index ->
        reason; their rows are left out of the array)."""
        raise NotImplementedError

    def _failed(self, indices: np.ndarray) -> np.ndarray:
        """Bools: which of ``indices`` cannot be read."""
        return self._unreadable[indices]

    def _reason(self, index: int) -> str:
        return self._reasons[index]

    def read(self, indices: np.ndarray, epoch: int = 0) -> FaceBatch:
        indices = np.asarray(indices, dtype=np.int64)
        failed = self._failed(indices)
        bad = [(self._ids[i], self._path(i), self._reason(i)) for i in indices[failed]]
        good = indices[~failed]
        images, failures = self._pixels(good)
        if failures:
            bad += [(self._ids[i], self._path(i), why) for i, why in failures.items()]
            good = good[~np.isin(good, list(failures))]
        return FaceBatch(
            images=images, landmarks=self._landmarks[good], labels=self._labels[good], indices=good,
            keys=self._keys[good], frame=self.image_size,
            soft_targets=None if self._soft is None else self._soft[good], bad=bad,
        )


class PreparedSource(PreparedFaces):
    """One split of a prepared data set, as aligned faces at ``image_size``: each image decoded from the user's
    copy and warped through its cached alignment transform once, into a face store (:mod:`.store`); with
    ``store=False`` (``data.split_options``), decoded and warped at every read instead, which costs no disk."""

    def __init__(self, classes: Sequence[str], table: pd.DataFrame, reference_size: int, image_size: int,
                 cache_directory: Path, store: bool = True):
        points = np.stack([np.array(table[c].tolist(), dtype=np.float32) for c in ("x", "y", "score")], axis=-1)
        landmarks = rescale_points(points.reshape(-1, NUM_LANDMARKS, 3), reference_size, image_size)
        super().__init__(classes, table, landmarks, image_size)
        self._paths = table["path"].astype(str).tolist()
        #: preparation status and note per item, for picking detector fallbacks or failures to show
        self.statuses = table["status"].astype(str).tolist()
        self.notes = table["note"].fillna("").astype(str).tolist() if "note" in table else [""] * len(table)
        self._matrices = [
            rescale_transform(transform_matrix(row), reference_size, image_size)
            for row in table[["transform"]].to_dict("records")
        ]
        stats = table.reindex(columns=["file_size", "file_mtime_ns"]).astype(object).where(lambda t: t.notna())
        key_rows = list(zip(self._paths, stats["file_size"].tolist(), stats["file_mtime_ns"].tolist(),
                            self.statuses, (m.round(9).tolist() for m in self._matrices)))
        self.store = FaceStore(cache_directory, self._paths, self._matrices, self._unreadable, image_size,
                               key_rows) if store else None
        self._fingerprint = f"prepared:{cache_directory}|{store_key(key_rows, image_size)}"

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def _path(self, index: int) -> str:
        return self._paths[index]

    def _failed(self, indices: np.ndarray) -> np.ndarray:
        failed = self._unreadable[indices]
        if self.store is not None:
            self.store.images  # rendered on first use, which also says which faces failed to decode
            failed = failed | np.isin(indices, list(self.store.bad))
        return failed

    def _reason(self, index: int) -> str:
        if self.store is not None and index in self.store.bad:
            return self.store.bad[index]
        return self._reasons[index]

    def _pixels(self, indices: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        if self.store is not None:
            return np.asarray(self.store.images[indices]), {}
        faces, failures = [], {}
        for index in indices:
            try:
                faces.append(warp_image(decode_rgb(self._paths[index]), self._matrices[index], self.image_size))
            except ImageDecodeError as err:
                failures[int(index)] = err.reason
        size = self.image_size
        return (np.stack(faces) if faces else np.zeros((0, size, size, 3), np.uint8)), failures


@dataclass(frozen=True)
class ReadOptions:
    """What every reader of prepared faces (a cache, a pack) takes as ``data.split_options``."""

    #: the cache root ``prepare`` wrote to (None: $OADN_CACHE, else ~/.cache/oadn-bench)
    cache_dir: Path | None = None
    #: which cache or pack, by landmark backend and alignment mode, when there are several
    landmarks: str | None = None
    align: str | None = None
    #: what happens to faces that failed preparation: keep-invisible or drop (see the module docstring)
    policy: str = "keep-invisible"
    #: keep the aligned faces decoded once in a memory-mapped store beside the cache (False: decode and warp at
    #: every read, which costs no disk; a pack always reads from its own array)
    store: bool = True

    @classmethod
    def parse(cls, kind: str, options: dict[str, Any]) -> "ReadOptions":
        """The options of a ``kind`` split ("prepared", "packed"); a typo or an unknown policy is named."""
        unknown = sorted(set(options) - {item.name for item in fields(cls)})
        if unknown:
            raise TypeError(f"unknown option(s) for a {kind} split: {', '.join(unknown)}")
        read = cls(**options)
        if read.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {read.policy!r}")
        return read


def open_prepared_split(
    adapter: OnDiskDatasetAdapter, root: Path, split: str, *, image_size: int, **options: Any
) -> PreparedSource:
    """``split`` of ``adapter`` at ``root`` read through its prepared cache (``options``: :class:`ReadOptions`)."""
    read = ReadOptions.parse("prepared", options)
    require_root(root)  # a wrong root is named as such, not answered with "run prepare"
    cache = find_cache(adapter.cache_name, root, landmarks=read.landmarks, align=read.align, cache_dir=read.cache_dir)
    meta = cache.read_meta()
    command = prepare_command_line(adapter.cache_name, root, landmarks=meta["landmarks"], align=meta["align"],
                                   cache_dir=read.cache_dir)
    index = adapter.index(Path(root))
    if split not in set(index["split"]):
        raise KeyError(f"data set {adapter.name!r} has no split {split!r}; it has {', '.join(adapter.splits)}")
    rows = index[index["split"] == split].drop(columns=["landmarks68"], errors="ignore")
    table = prepared_rows(cache, rows, command, f" of split {split!r}")
    if read.policy == "drop":
        table = table[table["status"] == "ok"]
    return PreparedSource(adapter.classes, table, meta["reference_size"], image_size, cache.directory, read.store)


def prepared_rows(cache: PreparedCache, rows: pd.DataFrame, command: str, of: str = "") -> pd.DataFrame:
    """``rows`` (image_id, path, ...) joined with the cache's latest row per image, with the safeguards every reader
    of a cache needs: a damaged chunk, an image not prepared yet (``of`` says which part of the data set) or changed
    at the root since is an error giving ``command``, the prepare command that fixes it; NaN/inf landmarks become
    failed faces."""
    try:
        prepared = cache.read()
    except DamagedChunkError as error:
        raise RuntimeError(f"{error}; run: {command}  (it re-prepares that chunk's images)") from None
    table = rows.merge(prepared.drop(columns=["detector", "landmarker"]), on="image_id", how="left")
    missing = table["status"].isna()
    if missing.any():
        raise RuntimeError(
            f"{cache.directory}: {int(missing.sum())} image(s){of} are not prepared yet "
            f"(e.g. {table.loc[missing, 'image_id'].iloc[0]}); run: {command}"
        )
    _refuse_changed_files(table, cache, command)
    return _fail_non_finite(table, cache)


def _refuse_changed_files(table: pd.DataFrame, cache: PreparedCache, command: str) -> None:
    """RuntimeError when images changed at the root since they were prepared (their crops would be stale)."""
    changed, unrecorded = changed_mask(table, table["path"].astype(str).tolist())
    if changed.any():
        raise RuntimeError(
            f"{cache.directory}: {int(changed.sum())} image(s) changed at the root since they were prepared "
            f"(e.g. {table.loc[changed, 'path'].iloc[0]}); run: {command}  (it re-prepares just those; files "
            "with new times but the same bytes are only re-recorded)"
        )
    if unrecorded.any():
        warnings.warn(f"{cache.directory}: written before file changes were tracked ({int(unrecorded.sum())} "
                      f"image(s)); run `{command}` once to record them", stacklevel=3)


def _fail_non_finite(table: pd.DataFrame, cache: PreparedCache) -> pd.DataFrame:
    """Faces with NaN/inf landmarks become failed faces (no landmarks), counted in a warning, never NaN scores."""
    values = np.stack([np.array(table[c].tolist(), dtype=np.float64).reshape(len(table), -1)
                       for c in ("x", "y", "score")], axis=1)
    bad = ~np.isfinite(values).all(axis=(1, 2)) & (table["status"] == "ok").to_numpy()
    if not bad.any():
        return table
    table = table.copy()
    zeros = [[0.0] * NUM_LANDMARKS] * int(bad.sum())
    for column in ("x", "y", "score"):
        table.loc[bad, column] = pd.Series(zeros, index=table.index[bad], dtype=object)
    table.loc[bad, "status"] = "no_landmarks"
    table.loc[bad, "reason"] = "non-finite landmarks (NaN/inf) in the cache"
    examples = ", ".join(table.loc[bad, "image_id"].astype(str).head(3))
    warnings.warn(f"{cache.directory}: {int(bad.sum())} face(s) with NaN/inf landmarks (e.g. {examples}) treated as "
                  "failed faces (no landmarks) under the cache policy", stacklevel=3)
    return table
