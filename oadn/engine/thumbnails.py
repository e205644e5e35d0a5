"""Small thumbnails of some scored faces of a test column, as the model saw them, with their interest points: what
a report's qualitative figure draws (:mod:`oadn.report.qualitative`), kept so that the report renders from disk.

The faces are read through the same source as scoring read them (the column's data set, options, occluders and
score mode), resized to a thumbnail, and stored with the 24 interest points (x, y in thumbnail pixels, score) and
the threshold T of the run that keeps them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from oadn.common.files import save_npz
from oadn.config import RunConfig
from oadn.data.geometry import interest_points
from oadn.engine.evaluate import resolve_evaluation
from oadn.engine.run_dir import load_config
from oadn.engine.splits import open_data_split


def column_thumbnails(run_dir: Path, image_ids: Sequence[str], *, split: str, dataset: str | None = None,
                      options: dict[str, Any] | None = None, root: Path | None = None,
                      split_options: dict[str, Any] | None = None, size: int = 64) -> dict[str, np.ndarray]:
    """``image_ids`` of the column (the run's own data set, or ``dataset`` with ``options``) as thumbnails."""
    config = load_config(run_dir)
    spec = resolve_evaluation(Path(run_dir), config, dataset, options, None, root)
    data = dataclasses.replace(config.data, split_options={**config.data.split_options, **(split_options or {})})
    source = open_data_split(spec.adapter, data, split, root)
    where = {str(i): k for k, i in enumerate(source.image_ids)}
    wanted = [where[i] for i in image_ids if i in where]
    batch = source.read(np.array(sorted(wanted), dtype=np.int64))
    faces = torch.from_numpy(batch.full_images()).permute(0, 3, 1, 2).float()
    thumbs = torch.nn.functional.interpolate(faces, size=(size, size), mode="bilinear", antialias=True,
                                             align_corners=False)
    points = interest_points(torch.from_numpy(np.ascontiguousarray(batch.landmarks)), batch.frame).numpy().copy()
    points[..., :2] = (points[..., :2] + 0.5) * size / batch.frame - 0.5
    ids = [source.image_ids[int(i)] for i in batch.indices]
    return {"image_ids": np.array(ids, dtype=str), "images": thumbs.round().clamp(0, 255).to(torch.uint8)
            .permute(0, 2, 3, 1).numpy(), "points": points.astype(np.float32),
            "threshold": np.array(_threshold(config), dtype=np.float32)}


def _threshold(config: RunConfig) -> float:
    """The run's T, as its method's options declare it (OADN's ``model.threshold``); NaN for a method that drops
    no point by its score (the figure then draws every found point, none as dropped)."""
    value = getattr(config.model.options, "threshold", None)
    return float("nan") if value is None else float(value)


def save_thumbnails(arrays: dict[str, np.ndarray], path: Path) -> int:
    """Write ``arrays`` compressed to ``path`` (atomically); returns the bytes written."""
    save_npz(arrays, path)
    return Path(path).stat().st_size
