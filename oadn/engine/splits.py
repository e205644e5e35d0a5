"""Opening a run's splits as faces: the data config's root, input size and split options, and the validation split
carved off the training data when the protocol has none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from oadn.config import DataConfig, RunConfig
from oadn.data.faces import FaceSource, SubsetSource
from oadn.data.registry import DatasetAdapter, get_dataset


def carve_validation(source: FaceSource, fraction: float, seed: int) -> tuple[FaceSource, FaceSource | None]:
    """Split ``fraction`` of the training data off, stratified by class, deterministically from ``seed``."""
    if fraction <= 0:
        return source, None
    if not 0 < fraction < 1:
        raise ValueError(f"data.val_fraction must be in [0, 1), got {fraction}")
    labels = np.asarray(source.labels)
    indices = np.arange(len(labels))
    counts = np.bincount(labels)
    classes = int((counts > 0).sum())
    val_size = int(np.ceil(fraction * len(labels)))
    # stratification needs two items per class and room for every class on both sides
    can_stratify = counts[counts > 0].min() >= 2 and classes <= val_size <= len(labels) - classes
    stratify = labels if can_stratify else None
    train_idx, val_idx = train_test_split(indices, test_size=fraction, random_state=seed, stratify=stratify)
    return SubsetSource(source, np.sort(train_idx)), SubsetSource(source, np.sort(val_idx))


def open_data_split(adapter: DatasetAdapter, data: DataConfig, split: str, root: Path | None = None) -> FaceSource:
    """``split`` of ``adapter`` as the run's data config asks (root, input size, split options)."""
    root = root if root is not None else (Path(data.root) if data.root else None)
    return adapter.open_split(split, root=root, image_size=data.image_size, **data.split_options)


def open_splits(
    config: RunConfig, opened: tuple[DatasetAdapter, dict[str, FaceSource]] | None = None
) -> tuple[DatasetAdapter, FaceSource, FaceSource | None]:
    """The data set's adapter, the training source and the validation source of a run (taken from ``opened``,
    what :func:`~oadn.engine.preflight.check_run` opened, where it holds them)."""
    data = config.data
    adapter, sources = opened or (get_dataset(data.name, **data.options).at_root(data.root), {})

    def split(name: str) -> FaceSource:
        return sources[name] if name in sources else open_data_split(adapter, data, name)

    train_source = split(data.train_split)
    if data.val_split:
        return adapter, train_source, split(data.val_split)
    train_source, val_source = carve_validation(train_source, data.val_fraction, config.train.seed)
    return adapter, train_source, val_source
