"""Face alignment: MTCNN five points -> similarity transform onto a canonical template.

Coordinates follow the project convention (pixel i's centre at i). A transform is a 2 x 3 matrix mapping
original-image pixels to aligned-frame pixels at a given size; ``rescale_transform`` moves it to another size,
so the cache stores one matrix per image at a reference size and the loader renders any input size from it.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
import torch
from PIL import Image
import torch.nn.functional as F

#: Aligned-frame size at which the cache stores transforms and landmarks.
REFERENCE_SIZE = 224

# ArcFace's 112 x 112 five-point template (left eye, right eye, nose tip, left and right mouth corner, as seen
# in the image), normalised to [0, 1] and shrunk by 0.8 about the centre so brows and chin stay inside.
_ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
TEMPLATE_SHRINK = 0.8
CANONICAL_TEMPLATE = 0.5 + (_ARCFACE_112 / 112.0 - 0.5) * TEMPLATE_SHRINK


def template_points(size: int) -> np.ndarray:
    """The canonical five points in pixels of a ``size`` x ``size`` aligned frame."""
    return (CANONICAL_TEMPLATE * size - 0.5).astype(np.float64)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` points onto ``dst``.

    Closed form of Umeyama (1991) restricted to 2-D without reflection. Returns a 2 x 3 matrix.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


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


def five_points_from_68(landmarks: np.ndarray) -> np.ndarray:
    """MTCNN-style five points from iBUG-68: eye centres, nose tip, mouth corners (image left first)."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return np.stack([xy[36:42].mean(0), xy[42:48].mean(0), xy[30], xy[48], xy[54]])


class MtcnnDetector:
    """facenet-pytorch's MTCNN (weights ship with the package); one face per image: the largest confident one."""

    def __init__(self, device: str | torch.device = "cpu", min_probability: float = 0.9):
        from facenet_pytorch import MTCNN

        self.model = MTCNN(keep_all=True, device=device)
        self.min_probability = min_probability
        self.description = f"mtcnn facenet-pytorch {version('facenet-pytorch')}"

    def detect(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Per image, (box x0 y0 x1 y1, five points 5 x 2) of its main face, or None when no face is found.

        Images of equal size are detected as one batch.
        """
        results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(i)
        for indices in by_shape.values():
            batch = np.stack([images[i] for i in indices])
            boxes, probs, points = self.model.detect(batch, landmarks=True)
            for i, b, p, pts in zip(indices, boxes, probs, points):
                results[i] = self._main_face(b, p, pts)
        return results

    def _main_face(self, boxes, probs, points) -> tuple[np.ndarray, np.ndarray] | None:
        if boxes is None:
            return None
        keep = [k for k in range(len(boxes)) if probs[k] is not None and probs[k] >= self.min_probability]
        if not keep:
            return None
        areas = [(boxes[k][2] - boxes[k][0]) * (boxes[k][3] - boxes[k][1]) for k in keep]
        best = keep[int(np.argmax(areas))]
        return np.asarray(boxes[best], dtype=np.float64), np.asarray(points[best], dtype=np.float64)
