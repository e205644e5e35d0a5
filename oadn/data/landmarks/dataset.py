"""Landmarks shipped with the data set (AffectNet's CSV), read from the adapter index's ``landmarks68`` column.

They carry no confidence, so every score is 1.0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.data.landmarks.base import LandmarkBackendError, SourceLandmarkBackend, register_landmark_backend


@register_landmark_backend("dataset")
class DatasetLandmarks(SourceLandmarkBackend):
    description = "dataset landmarks68 column; no scores (all 1.0)"
    provides_scores = False

    def lookup(self, rows: pd.DataFrame) -> list[np.ndarray | None]:
        if "landmarks68" not in rows.columns:
            raise LandmarkBackendError(
                "--landmarks dataset needs an adapter whose index has a landmarks68 column (AffectNet); "
                "this one has none: use fan, dlib or file:PATH"
            )
        return [_parse(value) for value in rows["landmarks68"]]


def _parse(value) -> np.ndarray | None:
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return None
    flat = np.asarray(value, dtype=np.float32)
    if flat.size != 136 or not np.isfinite(flat).all():
        return None
    return np.concatenate([flat.reshape(NUM_LANDMARKS, 2), np.ones((NUM_LANDMARKS, 1), np.float32)], axis=1)
