"""A tiny FERPlus copy in the layout of FERPlus's generate_training_data.py, with a landmark file for it, for the
tests that need a real on-disk copy they can edit (the shared one is read-only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

FOLDERS = ("FER2013Train", "FER2013Valid", "FER2013Test")


def write_ferplus(root: Path, per_folder: int = 8, seed: int = 0) -> Path:
    """48 px grey PNGs and a label.csv per folder under ``root`` (class column k % 8 wins image k), and a landmark
    file beside ``root`` (``file:`` backend format); returns the landmark file."""
    rows = []
    rng = np.random.default_rng(seed)
    for number, folder in enumerate(FOLDERS):
        (root / folder).mkdir(parents=True)
        lines = []
        for k in range(per_folder):
            name = f"fer{number * 100 + k:07d}.png"
            Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(root / folder / name)
            votes = [0] * 10
            votes[k % 8] = 8
            lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, votes)))
            rows.append([name, *rng.uniform(4, 44, 136), *np.ones(68)])
        (root / folder / "label.csv").write_text("\n".join(lines) + "\n")
    columns = ["name"] + [f"{a}{i}" for a in "xys" for i in range(68)]
    landmarks = root.parent / f"{root.name}-landmarks.csv"
    pd.DataFrame(rows, columns=columns).to_csv(landmarks, index=False)
    return landmarks


def swap_pixels(root: Path, seed: int = 1) -> None:
    """Every image of the copy at ``root`` replaced by other pixels, under the same name and label."""
    rng = np.random.default_rng(seed)
    for path in sorted(root.glob("FER2013*/*.png")):
        Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(path)
