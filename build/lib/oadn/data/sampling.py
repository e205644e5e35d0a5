"""Class-balanced sampling, for training sets as skewed as AffectNet (74k happy vs 4k disgust).

Weights are per sample, 1 / (number of present classes x size of the sample's class), so every class present
is drawn equally often in expectation and the weights sum to 1. Training draws with them through the loader's
epoch-seeded sampler (``data.balanced_sampler=true``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def class_balanced_weights(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """float64 weight per sample such that each present class carries the same total weight."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        return np.zeros(0, dtype=np.float64)
    if labels.min() < 0:
        raise ValueError("labels must be class indices >= 0")
    counts = np.bincount(labels)
    present = np.count_nonzero(counts)
    return 1.0 / (present * counts[labels].astype(np.float64))

