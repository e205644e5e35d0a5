"""A data set with unreadable images, registered as ``test-broken-synthetic`` (for tests in and out of process)."""

from __future__ import annotations

import dataclasses

import numpy as np

from oadn.data.adapters.synthetic import SyntheticDataset
from oadn.data.faces import FaceSource
from oadn.data.registry import register_dataset

BAD_INDICES = {0, 5, 9}


class _BrokenImages(FaceSource):
    """A synthetic split whose items ``bad`` (0, 5 and 9 unless told) behave like truncated files."""

    def __init__(self, source, bad):
        self.source, self.classes, self.bad = source, source.classes, set(bad)

    def __len__(self):
        return len(self.source)

    def read(self, indices, epoch=0):
        indices = np.asarray(indices, dtype=np.int64)
        broken = np.isin(indices, list(self.bad))
        batch = self.source.read(indices[~broken], epoch)
        ids = self.source.image_ids
        bad = [(ids[i], f"/data/img{i}.jpg", "truncated JPEG") for i in indices[broken]]
        return dataclasses.replace(batch, bad=bad)

    @property
    def labels(self):
        return self.source.labels

    @property
    def image_ids(self):
        return self.source.image_ids

    @property
    def fingerprint(self):
        return f"{self.source.fingerprint}|broken {sorted(self.bad)}"


@register_dataset("test-broken-synthetic")
class BrokenSynthetic(SyntheticDataset):
    def __init__(self, bad=tuple(BAD_INDICES), **options):
        super().__init__(**options)
        self.bad = bad

    def open_split(self, split, *, root=None, image_size=112, **options):
        return _BrokenImages(super().open_split(split, root=root, image_size=image_size, **options), self.bad)
