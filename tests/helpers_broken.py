"""A data set with unreadable images, registered as ``test-broken-synthetic`` (for tests in and out of process)."""

from __future__ import annotations

from oadn.data.adapters.synthetic import SyntheticDataset
from oadn.data.faces import BadImageError
from oadn.data.registry import register_dataset

BAD_INDICES = {0, 5, 9}


class _BrokenImages:
    """A synthetic split whose items ``bad`` (0, 5 and 9 unless told) behave like truncated files."""

    def __init__(self, source, bad):
        self.source, self.classes, self.bad = source, source.classes, set(bad)

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        if index in self.bad:
            raise BadImageError(self.source.image_ids[index], f"/data/img{index}.jpg", "truncated JPEG")
        return self.source[index]

    @property
    def labels(self):
        return self.source.labels

    @property
    def image_ids(self):
        return self.source.image_ids


@register_dataset("test-broken-synthetic")
class BrokenSynthetic(SyntheticDataset):
    def __init__(self, bad=tuple(BAD_INDICES), **options):
        super().__init__(**options)
        self.bad = bad

    def open_split(self, split, *, root=None, image_size=112, **options):
        return _BrokenImages(super().open_split(split, root=root, image_size=image_size, **options), self.bad)
