"""``oadn-bench prepare``: align every image of a data set and add 68 landmarks with scores, once.

Images are read and processed in chunks; each finished chunk is one atomic parquet file of the cache, so the
command is idempotent (a second call finds nothing to do) and resumable (a killed call continues with the
images no chunk holds). Failures are rows too (status + reason), never exceptions, so one bad file cannot stop
a 300k-image run; what happens to them later is the reader's ``policy`` (see :mod:`oadn.data.prepared.source`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from oadn.common.locks import FolderLock
from oadn.data.aligned_frame import apply_transform, resize_transform, warp_image
from oadn.data.ibug68 import NUM_LANDMARKS, five_points
from oadn.data.images import decode_rgb
from oadn.data.landmarks.base import (
    ImageLandmarkBackend,
    SourceLandmarkBackend,
    canonical_spec,
    is_fallback,
    make_backend,
)
from oadn.data.on_disk import OnDiskDatasetAdapter
from oadn.data.pixel_digests import file_digests, recorded_digests
from oadn.data.prepared.audit import Audit, audit_cache, require_root, require_writable
from oadn.data.prepared.cache import PreparedCache, file_stats
from oadn.preprocess.alignment import (
    CANONICAL_TEMPLATE,
    REFERENCE_SIZE,
    MtcnnDetector,
    detection_to_frame,
    similarity_transform,
    template_points,
)
from oadn.preprocess.visibility_backend import with_visibility

ALIGN_MODES = ("auto", "detect", "aligned")
NO_POINTS = np.zeros((NUM_LANDMARKS, 3), dtype=np.float32)


@dataclass
class PrepareSummary:
    """What one ``prepare`` call did and what the whole cache now holds."""

    dataset: str
    cache_dir: Path
    total: int
    processed: int
    already_done: int
    seconds: float
    landmarker: str
    status_counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    #: one image id per failure reason
    examples: dict[str, str] = field(default_factory=dict)
    #: ok images whose landmarks were fitted to a fixed box because the detector found no face
    fallbacks: int = 0
    #: images prepared again because their file changed at the root
    changed: int = 0
    #: images whose file got a new time but kept its bytes (a copy, a restore): their new stats recorded, not
    #: prepared again
    touched: int = 0
    #: damaged chunks removed (and their images prepared again), each with why
    repaired_chunks: list[str] = field(default_factory=list)
    #: rows of an older cache whose file size and mtime were recorded now
    recorded_stats: int = 0

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.status_counts.items() if s != "ok")


def select_device(device: str | None = None) -> str:
    """``device`` if given, else the GPU when there is one, else the CPU."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def prepare(
    adapter: OnDiskDatasetAdapter,
    root: Path,
    *,
    landmarks: str = "fan",
    align: str = "auto",
    cache_dir: Path | None = None,
    fan_weights: Path | None = None,
    device: str | None = None,
    chunk_size: int = 256,
    max_chunks: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    visibility: Path | None = None,
) -> PrepareSummary:
    """Prepare every image of ``adapter.preparation_index(root)`` not yet in the cache; return what was done.

    align: ``auto`` skips detection for images the index marks ``aligned``, ``detect`` always aligns,
    ``aligned`` treats every image as an aligned crop (only resized). ``max_chunks`` stops after that many
    chunks (the rest is done by the next call). ``progress(done, total)`` is called after each chunk.
    ``visibility``: a model file from ``fit-visibility`` whose predictions replace the backend's scores.
    """
    if align not in ALIGN_MODES:
        raise ValueError(f"align must be one of {', '.join(ALIGN_MODES)}, got {align!r}")
    root = require_root(root)
    spec = canonical_spec(landmarks)
    device = select_device(device)
    backend = make_backend(spec, device=device, fan_weights=fan_weights)  # fails here, before any image
    backend, spec = with_visibility(backend, spec, visibility)
    start = time.perf_counter()
    index = adapter.preparation_index(root).drop_duplicates("image_id")
    cache = PreparedCache.locate(adapter.cache_name, root, spec, align, cache_dir)
    if not cache.exists():
        require_writable(cache.directory)
    # held like a run directory; a complete cache in a folder nobody may write is read without it (and a cache
    # there with work to do is refused by require_writable below)
    writable = not cache.directory.exists() or os.access(cache.directory, os.W_OK | os.X_OK)
    with FolderLock(cache.directory, "a second prepare would do the same work again") if writable else nullcontext():
        cache.write_meta(
            {
                "dataset": adapter.cache_name,
                "root": str(root.resolve()),
                "landmarks": spec,
                "align": align,
                "reference_size": REFERENCE_SIZE,
                "template": CANONICAL_TEMPLATE.round(6).tolist(),
                "oadn_bench": version("oadn-bench"),
            }
        )
        audit = audit_cache(cache, index, repair=False)
        touched = same_bytes(audit, index, root, cache_dir)
        todo = index[~index["image_id"].isin(set(audit.table["image_id"]) - (audit.changed - touched))]
        if len(todo) or audit.removed_chunks or audit.migrated or touched:
            require_writable(cache.directory)  # before any work, not after the first chunk
        if audit.removed_chunks or audit.migrated or touched:  # write what the dry look found
            audit = audit_cache(cache, index, repair=True, touched=touched)
        worker = _ChunkWorker(backend, align, device)
        processed = 0
        if progress is not None:
            progress(len(index) - len(todo), len(index))
        for number, begin in enumerate(range(0, len(todo), chunk_size)):
            if max_chunks is not None and number >= max_chunks:
                break
            chunk = todo.iloc[begin : begin + chunk_size]
            sizes, mtimes = file_stats(chunk["path"].astype(str).tolist())  # before reading: a later change is seen
            rows = worker.run(chunk)
            for row, size, mtime in zip(rows, sizes, mtimes):
                row["file_size"], row["file_mtime_ns"] = size, mtime
            cache.append(rows)
            processed += len(rows)
            if progress is not None:
                progress(len(index) - len(todo) + processed, len(index))
        file_digests(index["path"].astype(str), root, cache_dir)  # so that a later copy with new times is known
        table = cache.read(columns=["status", "reason", "note"])
        table = table[table["image_id"].isin(set(index["image_id"]))]
        failed = table[table["status"] != "ok"]
        return PrepareSummary(
            dataset=adapter.cache_name,
            cache_dir=cache.directory,
            total=len(index),
            processed=processed,
            already_done=len(index) - len(todo),
            seconds=time.perf_counter() - start,
            landmarker=backend.description,
            status_counts=dict(Counter(table["status"])),
            reasons=dict(Counter(failed["reason"])),
            examples=dict(zip(failed["reason"], failed["image_id"])),
            fallbacks=int(((table["status"] == "ok") & table["note"].map(is_fallback)).sum()),
            changed=len(audit.changed),
            touched=len(touched),
            repaired_chunks=audit.removed_chunks,
            recorded_stats=audit.migrated,
        )


def same_bytes(audit: Audit, index: pd.DataFrame, root: Path, cache_dir: Path | None) -> set[str]:
    """Of the images whose file changed at the root since they were prepared, those that still hold the bytes
    they were prepared from: same size, and the digest kept for the recorded (size, time) equals today's."""
    if not audit.changed:
        return set()
    paths = dict(zip(index["image_id"].astype(str), index["path"].astype(str)))
    rows = audit.table[audit.table["image_id"].isin(audit.changed) & audit.table["file_size"].notna()]
    ids = rows["image_id"].tolist()
    recorded = list(zip([paths[i] for i in ids], rows["file_size"].astype("int64"),
                        rows["file_mtime_ns"].astype("int64")))
    before = recorded_digests(recorded, root, cache_dir)
    sizes, _ = file_stats([path for path, _, _ in recorded])
    candidates = [k for k, (old, size) in enumerate(zip(before, sizes)) if old is not None and size == recorded[k][1]]
    now = file_digests([recorded[k][0] for k in candidates], root, cache_dir)
    return {ids[k] for k, digest in zip(candidates, now) if digest == before[k]}


class _ChunkWorker:
    """Turns index rows into cache rows: read, align, landmark."""

    def __init__(self, backend: ImageLandmarkBackend | SourceLandmarkBackend, align: str, device: str):
        self.backend = backend
        self.align = align
        self.device = device
        self._detector: MtcnnDetector | None = None

    def detector(self) -> MtcnnDetector:
        if self._detector is None:
            self._detector = MtcnnDetector(device=self.device)
        return self._detector

    def is_aligned(self, row: pd.Series) -> bool:
        if self.align == "auto":
            return bool(row.get("aligned", False))
        return self.align == "aligned"

    def run(self, rows: pd.DataFrame) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        images: list[np.ndarray | None] = []
        for row in rows.itertuples():
            try:
                image = decode_rgb(row.path)
            except (OSError, ValueError) as err:
                images.append(None)
                out.append(_row(row.image_id, "unreadable", f"{type(err).__name__}: {err}"))
                continue
            if min(image.shape[:2]) < MIN_IMAGE_SIDE:
                images.append(None)
                out.append(_row(row.image_id, "unreadable", f"degenerate image: a side under {MIN_IMAGE_SIDE} "
                                "pixels, no face fits"))
                continue
            images.append(image)
            out.append({})
        if isinstance(self.backend, SourceLandmarkBackend):
            self._from_source(rows, images, out)
        else:
            self._from_images(rows, images, out)
        return out

    def _from_source(self, rows: pd.DataFrame, images: list, out: list[dict[str, Any]]) -> None:
        given = self.backend.lookup(rows)
        for i, (row, image, points) in enumerate(zip(_series(rows), images, given)):
            if image is None:
                continue
            resize = resize_transform(image.shape[1], image.shape[0], REFERENCE_SIZE)
            if points is None:
                out[i] = _row(row.image_id, "no_landmarks", f"{self.backend.name}: no landmarks for this image",
                              transform=resize, detector="none", landmarker=self.backend.description)
                continue
            if self.is_aligned(row):
                matrix, detector = resize, "none (aligned crop)"
            else:
                matrix = similarity_transform(five_points(points), template_points(REFERENCE_SIZE))
                detector = f"five points of the {self.backend.name} landmarks"
            out[i] = _row(row.image_id, "ok", "", points=apply_transform(matrix, points), transform=matrix,
                          detector=detector, landmarker=self.backend.description)

    def _from_images(self, rows: pd.DataFrame, images: list, out: list[dict[str, Any]]) -> None:
        series = list(_series(rows))
        to_detect = [i for i, img in enumerate(images) if img is not None and not self.is_aligned(series[i])]
        faces = dict(zip(to_detect, self.detector().detect([images[i] for i in to_detect]))) if to_detect else {}
        pending: list[tuple[int, np.ndarray, np.ndarray | None, str]] = []
        for i, (row, image) in enumerate(zip(series, images)):
            if image is None:
                continue
            resize = resize_transform(image.shape[1], image.shape[0], REFERENCE_SIZE)
            if i not in faces:
                pending.append((i, resize, None, "none (aligned crop)"))
            elif faces[i] is None:
                out[i] = _row(row.image_id, "no_face", f"{self.detector().description}: no face found",
                              transform=resize, detector=self.detector().description)
            else:
                matrix, aligned_box = detection_to_frame(*faces[i])
                pending.append((i, matrix, aligned_box, self.detector().description))
        if not pending:
            return
        batch = np.stack([warp_image(images[i], m, REFERENCE_SIZE) for i, m, _, _ in pending])
        predictions = self.backend.predict(batch, [box for _, _, box, _ in pending])
        for (i, matrix, box, detector), (points, note) in zip(pending, predictions):
            image_id = series[i].image_id
            if points is None:
                out[i] = _row(image_id, "no_landmarks", note or f"{self.backend.name}: no landmarks", transform=matrix,
                              box=box, detector=detector, landmarker=self.backend.description)
            else:
                out[i] = _row(image_id, "ok", "", note=note, points=points, transform=matrix, box=box,
                              detector=detector, landmarker=self.backend.description)


#: the smallest image side prepared: MTCNN looks for faces of 20 px and more (its min_face_size); a smaller side
#: leaves its image pyramid empty (facenet-pytorch then fails on the whole batch)
MIN_IMAGE_SIDE = 20


def _series(rows: pd.DataFrame):
    return (row for _, row in rows.iterrows())


def _row(
    image_id: str,
    status: str,
    reason: str,
    *,
    note: str = "",
    points: np.ndarray | None = None,
    transform: np.ndarray | None = None,
    box: np.ndarray | None = None,
    detector: str = "",
    landmarker: str = "",
) -> dict[str, Any]:
    points = NO_POINTS if points is None else np.asarray(points, dtype=np.float32)
    if status == "ok" and not np.isfinite(points).all():  # a NaN point would become a NaN score downstream
        status, reason, points = "no_landmarks", f"non-finite landmarks (NaN/inf) from {landmarker}", NO_POINTS
    return {
        "image_id": str(image_id),
        "status": status,
        "reason": reason,
        "note": note,
        "x": points[:, 0].tolist(),
        "y": points[:, 1].tolist(),
        "score": np.clip(points[:, 2], 0, 1).tolist(),
        "transform": (np.zeros(6) if transform is None else np.asarray(transform).reshape(6)).tolist(),
        "box": [] if box is None else np.asarray(box).tolist(),
        "detector": detector,
        "landmarker": landmarker,
    }
