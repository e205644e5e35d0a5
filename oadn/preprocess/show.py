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
from oadn.data.geometry import face_found, interest_points, kept_points
from oadn.data.landmarks.base import is_fallback

#: which faces ``pick_indices`` draws from
PICKS = ("all", "fallback", "failed")


def pick_indices(source: FaceSource, count: int, seed: int = 0, only: str = "all") -> list[int]:
    """``count`` distinct indices drawn reproducibly from ``source``; ``only`` narrows them to detector
    fallbacks or failed faces of a prepared source (one that has ``statuses`` and ``notes``)."""
    candidates = np.arange(len(source))
    if only != "all":
        if not hasattr(source, "statuses"):
            raise ValueError(f"--only {only} needs a prepared data set (this source records no detector results)")
        statuses, notes = np.asarray(source.statuses), source.notes
        if only == "fallback":
            keep = np.array([s == "ok" and is_fallback(n) for s, n in zip(statuses, notes)], dtype=bool)
        else:
            keep = np.isin(statuses, ["no_face", "no_landmarks"])
        candidates = candidates[keep]
        if not len(candidates):
            raise ValueError(f"no {only} face in this split")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(candidates, size=min(count, len(candidates)), replace=False).tolist())


def draw_interest_points(ax, points: np.ndarray, kept: np.ndarray, scale: float = 1.0) -> None:
    """The paper's Fig. 3 marks on a matplotlib axis: kept points (score >= T) as filled green dots, dropped ones
    as red crosses (``points``: M x 2+ in the drawn image's pixels)."""
    ax.scatter(points[kept, 0], points[kept, 1], s=14 * scale, c="lime", edgecolors="black", linewidths=0.5)
    ax.scatter(points[~kept, 0], points[~kept, 1], s=22 * scale, c="red", marker="x", linewidths=1.2)


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
        landmarks = torch.from_numpy(record.landmarks)
        points = interest_points(landmarks, size)
        kept = kept_points(points, threshold, face_found(landmarks)).numpy()
        points = points.numpy()
        ax.imshow(record.image)
        if not record.landmarks[:, 2].any():  # a failed face: no landmarks to draw (not 68 points at 0, 0)
            ax.set_title(f"{record.image_id}\nno landmarks (failed face)", fontsize=8)
            continue
        draw_interest_points(ax, points, kept)
        ax.set_title(f"{record.image_id}\n{int(kept.sum())}/24 kept (T={threshold:g})", fontsize=8)
    fig.tight_layout(pad=1.2)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out
