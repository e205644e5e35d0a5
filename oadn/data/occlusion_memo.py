"""Test-set occlusions kept in memory, so a face is occluded once however many times it is scored.

A suite scores each trained row on several columns that share one occluded test set and differ only in the score
mode (dlib, oracle, random-drop), and every row and seed scores the same test faces: the occluder is a pure
function of (occluder seed, image, epoch), independent of the run. Pasting one (a bisection over the occluder's
scale at four times the face's resolution) costs far more than the model's forward pass on CPU, so the occluded
record of epoch 0 is memoised per split, keyed by everything that decides it (the ``occluded`` data set builds
the key), within a byte budget; the least recently used split goes first. Records come out with their own
landmark array (score modes write the scores in place) and a read-only image (a reader that writes copies it).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Callable, Hashable

from oadn.data.faces import FaceRecord

#: bytes of occluded records kept across splits: a few test sets at the model's input size
DEFAULT_BUDGET = 2 * 1024**3


class OcclusionMemo:
    """Occluded epoch-0 records per split, the least recently used split dropped past ``budget`` bytes."""

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self.budget = budget
        self._splits: OrderedDict[Hashable, dict[int, FaceRecord]] = OrderedDict()
        self._bytes: dict[Hashable, int] = {}

    def record(self, key: Hashable, index: int, make: Callable[[], FaceRecord]) -> FaceRecord:
        """Item ``index`` of the split ``key``: from memory, else ``make()`` (then kept)."""
        records = self._splits.setdefault(key, {})
        self._splits.move_to_end(key)
        record = records.get(index)
        if record is None:
            made = make()
            image = made.image.view()  # read-only here, not in whoever owns the array (an unoccluded face's source)
            image.setflags(write=False)
            record = records[index] = dataclasses.replace(made, image=image)
            self._bytes[key] = self._bytes.get(key, 0) + _size(record)
            self._evict(keep=key)
        return dataclasses.replace(record, landmarks=record.landmarks.copy())

    def _evict(self, keep: Hashable) -> None:
        while sum(self._bytes.values()) > self.budget and len(self._splits) > 1:
            oldest = next(k for k in self._splits if k != keep)
            del self._splits[oldest], self._bytes[oldest]

    def clear(self) -> None:
        self._splits.clear()
        self._bytes.clear()


def _size(record: FaceRecord) -> int:
    return record.image.nbytes + record.landmarks.nbytes + (0 if record.hidden is None else record.hidden.nbytes)


#: the process's memo: suites score every row of a local run in one process
TEST_OCCLUSIONS = OcclusionMemo()
