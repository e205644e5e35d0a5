"""A test split's occluded faces, painted once and kept on disk, so a column scored again paints nothing.

A suite scores each trained row on several columns that share one occluded test set and differ only in the
score mode, every row and seed scores the same test faces, and ``evaluate``, a SLURM job or a second process
scores them again: the occluder is a pure function of (occluder seed, image), independent of the run. The
first read of the split paints all of it, in batches, into ``<cache root>/occluded/<key>/`` (memory-mapped:
pixels as stored, landmarks with the base's scores, the covered points, donors, labels, item keys); every read
after is a slice of those arrays, whatever the score mode, which is applied on reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from oadn.common.array_folder import ArrayFolder
from oadn.common.progress import progress_bar
from oadn.data.faces import FaceBatch, FaceSource

#: faces painted per batch while a split is written
CHUNK = 256


class OccludedStore:
    """The epoch-0 occluded faces of ``source`` as ``paint`` makes them, in ``directory``."""

    def __init__(self, directory: Path, source: FaceSource, paint: Callable[[FaceBatch], FaceBatch]):
        self.folder = ArrayFolder(directory)
        self.source, self.paint = source, paint
        self._arrays: dict[str, np.ndarray] | None = None
        self._frame = 0
        self._bad: dict[int, tuple[str, str, str]] = {}

    @property
    def directory(self) -> Path:
        return self.folder.directory

    def arrays(self) -> dict[str, np.ndarray]:
        """The stored arrays, painting the split first when it is not on disk yet."""
        if self._arrays is None:
            if not self.folder.exists():
                self._write()
            meta = self.folder.meta()
            self._frame = int(meta["frame"])
            self._bad = {int(k): tuple(v) for k, v in meta["bad"].items()}
            self._arrays = {name: self.folder.array(name) for name in meta["arrays"]}
        return self._arrays

    def read(self, indices: np.ndarray) -> FaceBatch:
        arrays = self.arrays()
        bad = [self._bad[int(i)] for i in indices if int(i) in self._bad]
        good = indices[arrays["readable"][indices]]

        def pick(name: str) -> np.ndarray | None:
            return np.asarray(arrays[name][good]) if name in arrays else None

        donors = pick("donors")
        return FaceBatch(images=pick("images"), landmarks=pick("landmarks"), labels=pick("labels"), indices=good,
                         keys=pick("keys"), frame=self._frame, hidden=pick("hidden"),
                         donors=donors if donors is not None and (donors >= 0).any() else None,
                         soft_targets=pick("soft_targets"), bad=bad)

    def _write(self) -> None:
        count = len(self.source)
        first = self.paint(self.source.read(np.arange(min(count, 1), dtype=np.int64)))
        if count and not len(first):  # the first face is unreadable: find the stored size from another
            first = self.paint(self.source.read(np.arange(count, dtype=np.int64)))
        if not len(first):
            raise RuntimeError(f"no readable face in the split to occlude ({count} faces, {len(first.bad)} "
                               f"unreadable, e.g. {first.bad[:1]})")
        shapes = {
            "images": ((count, *first.images.shape[1:]), np.uint8),
            "landmarks": ((count, *first.landmarks.shape[1:]), np.float32),
            "labels": ((count,), np.int64), "keys": ((count,), np.uint64), "hidden": ((count, 68), bool),
            "donors": ((count,), np.int64), "readable": ((count,), bool),
        }
        if first.soft_targets is not None:
            shapes["soft_targets"] = ((count, first.soft_targets.shape[1]), np.float32)
        bad: dict[str, list[str]] = {}
        ids = self.source.image_ids
        with self.folder.writing(shapes) as draft:
            out = draft.arrays
            out["donors"][:] = -1
            with progress_bar() as bar:
                task = bar.add_task(f"occluding {count} test faces once", total=count, info="")
                for start in range(0, count, CHUNK):
                    indices = np.arange(start, min(start + CHUNK, count), dtype=np.int64)
                    batch = self.paint(self.source.read(indices))
                    rows = batch.indices
                    out["images"][rows], out["landmarks"][rows] = batch.images, batch.landmarks
                    out["labels"][rows], out["keys"][rows], out["readable"][rows] = batch.labels, batch.keys, True
                    out["hidden"][rows] = batch.hidden
                    if batch.donors is not None:
                        out["donors"][rows] = batch.donors
                    if "soft_targets" in out:
                        out["soft_targets"][rows] = batch.soft_targets
                    missing = {ids[int(i)]: int(i) for i in np.setdiff1d(indices, rows)}
                    bad.update({str(missing[b[0]]): list(b) for b in batch.bad if b[0] in missing})
                    bar.advance(task, len(indices))
            draft.meta = {"frame": first.frame, "count": count, "bad": bad, "arrays": list(shapes)}
