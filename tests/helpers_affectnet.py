"""Tiny AffectNet copies (and JPEG files) in the real formats, for the data set tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

AFFECTNET_HEADER = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
                    "expression,valence,arousal")
LANDMARKS = ";".join(f"{v:.2f}" for v in np.linspace(10.0, 90.0, 136))


def write_jpeg(path: Path, seed: int = 0, truncate: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


def write_affectnet(root: Path, header_in_validation: bool = False) -> None:
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True)
    train = [AFFECTNET_HEADER,
             f"1/{'a' * 56}.jpg,10,12,80,82,{LANDMARKS},1,0.8,0.3",
             f"1/{'b' * 56}.jpg,10,12,80,82,{LANDMARKS},7,-0.5,0.3",
             f"2/{'c' * 56}.jpg,10,12,80,82,{LANDMARKS},9,-2,-2",
             f"2/{'d' * 56}.jpg,10,12,80,82,{LANDMARKS},12,0.1,0.1",
             f"2/{'e' * 56}.jpg,10,12,80,82,1;2;3,0,0.1,0.1",
             f"2/{'f' * 56}.jpg,10,x,80,82,{LANDMARKS},0,0.1,0.1",
             f"2/{'g' * 56}.jpg,10,12,80,82",
             f"3/{'h' * 56}.jpg,0,0,80,80,{LANDMARKS},6,0.1,0.1"]
    val = [f"4/{'1' * 56}.jpg,5,5,70,70,{LANDMARKS},0,0.0,0.0", f"4/{'2' * 56}.JPG,5,5,70,70,{LANDMARKS},3,0.0,0.0"]
    (lists / "training.csv").write_text("\n".join(train) + "\n")
    (lists / "validation.csv").write_text("\n".join(([AFFECTNET_HEADER] if header_in_validation else []) + val) + "\n")
    images = root / "Manually_Annotated_Images"
    for i, rel in enumerate([f"1/{'a' * 56}.jpg", f"1/{'b' * 56}.jpg", f"3/{'h' * 56}.jpg", f"4/{'1' * 56}.jpg"]):
        write_jpeg(images / rel, seed=i)
