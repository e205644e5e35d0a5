"""``oadn-bench show-landmarks``: the paper's Fig. 3 for a few images of any data set.

Draws the 24 interest points on each aligned face: kept points (score >= T) as filled dots, dropped ones as
crosses, so a wrong cache or threshold shows at a glance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from oadn.data.faces import BadImageError, FaceSource
from oadn.data.geometry import interest_points


def pick_indices(source: FaceSource, count: int, seed: int = 0) -> list[int]:
    """``count`` distinct indices drawn reproducibly from ``source``."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(len(source), size=min(count, len(source)), replace=False).tolist())


def render_landmark_grid(source: FaceSource, indices: Sequence[int], out: Path, threshold: float = 0.6) -> Path:
    """Write a PNG grid of ``source[i]`` for ``i`` in ``indices`` with their interest points; returns ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = []
    for i in indices:
        try:
            records.append(source[i])
        except BadImageError:
            continue
    if not records:
        raise ValueError("none of the chosen images could be read")
    cols = min(4, len(records))
    rows = (len(records) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, record in zip(axes.flat, records):
        size = record.image.shape[0]
        points = interest_points(torch.from_numpy(record.landmarks), size).numpy()
        kept = points[:, 2] >= threshold
        ax.imshow(record.image)
        ax.scatter(points[kept, 0], points[kept, 1], s=14, c="lime", edgecolors="black", linewidths=0.5)
        ax.scatter(points[~kept, 0], points[~kept, 1], s=22, c="red", marker="x", linewidths=1.2)
        ax.set_title(f"{record.image_id}\n{int(kept.sum())}/24 kept (T={threshold:g})", fontsize=8)
    fig.tight_layout(pad=1.2)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
