"""``predict --overlay``: one PNG per file, the aligned face as the model saw it with its kept and dropped
interest points (the paper's Fig. 3) and the predicted label, or the file's status where it has no face."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from oadn.common.files import naming_a_full_disk
from oadn.engine.inference import FacePrediction
from oadn.preprocess.show import draw_interest_points


def overlay_name(position: int, file: str) -> str:
    """``0007-<file stem>.png``: numbered in input order (two files may share a stem), the stem reduced to
    characters safe in any file system."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(file).stem).strip("._")[:60] or "image"
    return f"{position:04d}-{stem}.png"


def write_overlay(prediction: FacePrediction, classes: Sequence[str], threshold: float | None, path: Path) -> Path:
    """Draw one file's outcome into ``path`` (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    face = prediction.face
    fig, ax = plt.subplots(figsize=(3.2, 3.7))
    ax.axis("off")
    if face.image is None:
        ax.text(0.5, 0.5, f"{face.status}\n{face.reason}", ha="center", va="center", wrap=True, fontsize=8,
                transform=ax.transAxes)
        ax.set_title(Path(face.file).name, fontsize=8)
    else:
        ax.imshow(face.image)
        fused = prediction.probabilities["prediction"]
        label = f"{classes[int(fused.argmax())]} ({100 * float(fused.max()):.0f}%)"
        if prediction.kept is not None:
            draw_interest_points(ax, prediction.points, prediction.kept)
            label += f"\n{int(prediction.kept.sum())}/24 points kept (T={threshold:g})"
        ax.set_title(f"{Path(face.file).name}\n{label}", fontsize=8)
    fig.tight_layout(pad=0.4)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with naming_a_full_disk(path.parent, path.name):
            fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path
