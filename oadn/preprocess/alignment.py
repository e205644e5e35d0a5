"""Face alignment: MTCNN five points -> similarity transform onto a canonical template.

Coordinates follow the project convention (pixel i's centre at i); the transforms the alignment produces are
applied and rescaled by :mod:`oadn.data.aligned_frame`.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
import torch

from oadn.data.aligned_frame import apply_transform

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


def detection_to_frame(box: np.ndarray, five: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A detection (face box x0, y0, x1, y1 and five points, in the image's pixels) as the transform onto the
    reference frame and the box's bounds in that frame (what a landmark backend is given)."""
    matrix = similarity_transform(five, template_points(REFERENCE_SIZE))
    corners = apply_transform(matrix, np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]],
                                                [box[2], box[3]]]))
    return matrix, np.concatenate([corners.min(0), corners.max(0)]).astype(np.float64)


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
