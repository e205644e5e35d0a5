"""Moving pixels and points between an original image and its aligned frame, the one coordinate rule of the
project: pixel i's centre is at i.

A transform is a 2 x 3 matrix mapping original-image pixels to aligned-frame pixels at a given size;
``rescale_transform`` moves it to another size, so a prepared cache stores one matrix per image at a reference
size and readers render any input size from it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def resize_transform(width: int, height: int, size: int) -> np.ndarray:
    """The transform of an already aligned crop: stretch the whole image onto the ``size`` x ``size`` frame."""
    kx, ky = size / width, size / height
    return np.array([[kx, 0.0, 0.5 * kx - 0.5], [0.0, ky, 0.5 * ky - 0.5]])


def rescale_transform(matrix: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """Re-express a transform onto a ``from_size`` frame as one onto a ``to_size`` frame (same field of view)."""
    k = to_size / from_size
    scale = np.array([[k, 0.0, 0.5 * k - 0.5], [0.0, k, 0.5 * k - 0.5], [0.0, 0.0, 1.0]])
    return (scale @ np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]


def rescale_points(points: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """Move x, y (first two columns) from a ``from_size`` frame to a ``to_size`` one; other columns untouched."""
    out = np.array(points, dtype=np.float32, copy=True)
    k = to_size / from_size
    out[..., :2] = (out[..., :2] + 0.5) * k - 0.5
    return out


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map N x 2 points (or N x k, only the first two columns move) through a 2 x 3 transform."""
    out = np.array(points, dtype=np.float32, copy=True)
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    out[:, :2] = xy @ matrix[:, :2].T + matrix[:, 2]
    return out


def warp_image(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Render the ``size`` x ``size`` aligned frame of an H x W x 3 uint8 image (bilinear, black outside).

    A plain resize (aligned crops, faceless images) goes through PIL, which is faster and antialiases when
    shrinking; PIL's resize uses the same pixel-centre convention.
    """
    height, width = image.shape[:2]
    if np.allclose(matrix, resize_transform(width, height, size)):
        return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(full)[:2]
    grid_1d = np.arange(size, dtype=np.float64)
    u, v = np.meshgrid(grid_1d, grid_1d)
    x = inverse[0, 0] * u + inverse[0, 1] * v + inverse[0, 2]
    y = inverse[1, 0] * u + inverse[1, 1] * v + inverse[1, 2]
    # align_corners=True puts -1 and +1 on the first and last pixel centres: our convention exactly
    gx = 2 * x / max(width - 1, 1) - 1
    gy = 2 * y / max(height - 1, 1) - 1
    grid = torch.from_numpy(np.stack([gx, gy], axis=-1)).float()[None]
    src = torch.tensor(image).permute(2, 0, 1)[None].float()  # a copy: decoded images are often read-only
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def resize_faces(images: torch.Tensor, frame: int) -> torch.Tensor:
    """uint8 B x C x S x S faces -> float B x 3 x N x N in [0, 1], N = ``frame``: the one rule by which stored faces
    become the model's input, on whatever device they are.

    Bilinear with pixel-centre alignment, antialiased when shrinking as Pillow is (within one grey level of
    Pillow's resize; enlarging, antialiasing changes nothing and costs a slower kernel); grey becomes RGB by
    ``expand`` (no copy).
    """
    faces = images.float()
    if faces.shape[-1] != frame:
        faces = F.interpolate(faces, size=(frame, frame), mode="bilinear", align_corners=False,
                              antialias=frame < faces.shape[-1])
    faces = faces.div_(255)
    return faces.expand(-1, 3, -1, -1) if faces.shape[1] == 1 else faces
