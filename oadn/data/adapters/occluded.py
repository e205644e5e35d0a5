"""``occluded``: any registered data set with occluders pasted on its aligned faces, as test set or augmentation
(the transform and its score modes are :mod:`oadn.data.occlusion`).

Options: ``base`` (the data set wrapped; its own options pass through), ``kind`` (one kind or a list: each face
draws one), ``area`` (share of the face covered, or ``any``: a random size, drawn ten times faster, for
augmentation), ``probability`` (share of faces occluded; 1 for a test set, e.g. 0.5 for training augmentation),
``occluder_seed``, ``train_limit`` (keep that many training faces, a fixed random draw: for CPU-sized runs),
``scores`` (a registered score mode, :mod:`oadn.data.score_modes`; ``datasets list`` lists them) and ``visibility``
(the model file ``scores=learned`` reads). The swap kinds (``swap-mouth``, ``swap-eyes``: a region of a face of
another class) make test sets only; training occluders are drawn anew each epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from oadn.data.faces import SubsetSource
from oadn.data.occluders.swap import SWAP_KINDS
from oadn.data.occlusion import OccludedSource, parse_kinds
from oadn.data.prepared.cache import cache_root
from oadn.data.registry import DatasetAdapter, get_dataset, register_dataset
from oadn.data.score_modes.base import make_score_mode


@register_dataset("occluded")
class OccludedDataset(DatasetAdapter):
    """Another data set's faces with pasted occluders (see the module docstring)."""

    description = ("a data set with pasted occluders; options base, kind, area, probability, occluder_seed, "
                   "train_limit, scores=MODE (a score mode), visibility=FILE, plus the base's options")

    def __init__(self, base: str = "ferplus", kind: str | Sequence[str] = "random", area: float | str | None = 0.25,
                 probability: float | str = 1.0, occluder_seed: int | str = 0, scores: str = "oracle",
                 visibility: str | None = None, train_limit: int | str | None = None, **base_options: Any):
        if base == "occluded":
            raise ValueError("occluded: base must be another data set")
        #: an unknown mode, or one missing its file, is named now; what it reads is built when a split opens
        self.mode = make_score_mode(scores, visibility=visibility)
        self.base = get_dataset(base, **base_options)
        self.base_options = base_options
        self.kinds = parse_kinds(kind)
        self.area = None if area in ("any", None) else float(area)
        self.probability, self.seed = float(probability), int(occluder_seed)
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"occluded: probability must be in [0, 1], got {self.probability}")
        self.scores = scores
        self.train_limit = None if train_limit is None else int(train_limit)
        self.needs_root = self.base.needs_root
        self.target_mode = self.base.target_mode
        self.options_of = base

    @property
    def classes(self) -> tuple[str, ...]:
        return self.base.classes

    @property
    def cache_name(self) -> str:
        """The base's: its faces on disk and their landmark cache are what a suite checks and prepares."""
        return self.base.cache_name

    def unoccluded(self) -> DatasetAdapter:
        return self.base

    def index(self, root: Path):
        return self.base.index(root)

    @property
    def splits(self) -> tuple[str, ...]:
        return self.base.splits

    @property
    def protocol(self) -> str:
        area = "a random share" if self.area is None else f"{self.area:.0%}"
        return (f"{self.base.name} with occluders {'/'.join(self.kinds)} over {area} of the face on "
                f"{self.probability:.0%} of faces, scores {self.scores}; base: {self.base.protocol}")

    def training_problem(self) -> str | None:
        swaps = [kind for kind in self.kinds if kind in SWAP_KINDS]
        if swaps and self.probability > 0:
            return (f"occluded: kind {', '.join(swaps)} makes test sets only (it pastes another class's face "
                    f"region, false evidence); train with the painted kinds")
        return None

    def split_size(self, split: str, indexed: int) -> int:
        size = self.base.split_size(split, indexed)
        return min(size, self.train_limit) if split == "train" and self.train_limit is not None else size

    def open_split(self, split: str, *, root: Path | None, image_size: int, **options: Any) -> OccludedSource:
        source = self.base.open_split(split, root=root, image_size=image_size, **options)
        if split == "train" and self.train_limit is not None and self.train_limit < len(source):
            keep = np.sort(np.random.default_rng(0).permutation(len(source))[: self.train_limit])
            source = SubsetSource(source, keep)
        # a test split is painted once and kept beside the prepared caches; training occluders change each epoch
        store = None if split == "train" else cache_root(options.get("cache_dir")) / "occluded"
        self.mode.load()  # a detector or model file the mode reads fails now, named, not at the first face
        return OccludedSource(source, kinds=self.kinds, area=self.area, probability=self.probability,
                              seed=self.seed, scores=self.mode, store_root=store)
