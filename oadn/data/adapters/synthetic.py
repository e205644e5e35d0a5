"""``synthetic``: the built-in procedural data set (faces drawn by :mod:`oadn.data.synthetic`)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from oadn.data.labels import BASIC_CLASSES
from oadn.data.registry import DatasetAdapter, register_dataset
from oadn.data.synthetic.source import SPLIT_CODES, SyntheticFaces


@register_dataset("synthetic")
class SyntheticDataset(DatasetAdapter):
    """The built-in procedural data set: no download, any resolution, clean and occluded test splits."""

    description = (
        "procedural faces of the 7 basic expressions with scored iBUG-68 landmarks; train (occluders with "
        "probability train_occlusion), test_clean (none), test_occluded (always over the eyes or mouth)"
    )
    needs_root = False

    def __init__(self, train_size: int = 7000, test_size: int = 1400, seed: int = 0, train_occlusion: float = 0.5):
        self.train_size, self.test_size = train_size, test_size
        self.seed, self.train_occlusion = seed, train_occlusion

    @property
    def classes(self) -> tuple[str, ...]:
        return BASIC_CLASSES

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(SPLIT_CODES)

    def split_option_names(self) -> set[str]:
        """What :class:`SyntheticFaces` takes besides what the split decides (e.g. ``occluder_kinds``)."""
        parameters = inspect.signature(SyntheticFaces.__init__).parameters.values()
        return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {
            "self", "split", "size", "image_size", "seed"}

    def open_split(self, split: str, *, root: Path | None = None, image_size: int = 112,
                   **options: Any) -> SyntheticFaces:
        """Open ``split``; ``options`` go to :class:`SyntheticFaces` (e.g. ``occluder_kinds``, ``frontal``)."""
        if split not in SPLIT_CODES:
            raise ValueError(f"unknown split {split!r} of 'synthetic'; expected one of {', '.join(SPLIT_CODES)}")
        if split == "train":
            size, occlusion, targeted = self.train_size, self.train_occlusion, False
        else:
            size, targeted = self.test_size, True
            occlusion = 1.0 if split == "test_occluded" else 0.0
        settings = {"occlusion": occlusion, "targeted": targeted, **options}
        return SyntheticFaces(split, size, image_size, seed=self.seed, **settings)
