"""A user's own image files made into faces as ``prepare`` makes a data set's: decoded, the main face found by
MTCNN and aligned by its five points onto the canonical template (or, for aligned crops, resized), and 68
landmarks with scores added by a landmark backend on the 224 px aligned frame, then moved to the model's size.

``predict`` uses it on photos nobody labelled, so nothing here stops at a bad file: each file comes back with a
status (``ok``, ``unreadable``, ``no_face``, ``no_landmarks``) and the reason, named per file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from oadn.data.aligned_frame import (
    rescale_points,
    rescale_transform,
    resize_transform,
    warp_image,
)
from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.data.images import ImageDecodeError, decode_rgb, image_extensions
from oadn.data.landmarks.base import ImageLandmarkBackend
from oadn.preprocess.alignment import REFERENCE_SIZE, MtcnnDetector, detection_to_frame
from oadn.preprocess.prepare import MIN_IMAGE_SIDE

#: the statuses a file can end with
STATUSES = ("ok", "unreadable", "no_face", "no_landmarks", "empty_directory")


@dataclass
class AlignedFace:
    """One input file as a face at the model's size (``image``, ``landmarks``) or why it is not one."""

    file: str
    status: str
    reason: str = ""
    #: the face box x0, y0, x1, y1 in the file's own pixels (the whole image for an aligned crop)
    box: tuple[float, float, float, float] | None = None
    #: S x S x 3 uint8 at the model's input size, and 68 x 3 landmarks (x, y, score) in its pixels
    image: np.ndarray | None = None
    landmarks: np.ndarray | None = None


def image_files(inputs: Iterable[str | Path]) -> list[AlignedFace | Path]:
    """Each input as a file to read, in the order given: a folder becomes its image files (sorted, by the
    extensions Pillow reads; sub-folders included), or one ``empty_directory`` entry when it holds none."""
    known = image_extensions()
    out: list[AlignedFace | Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in known)
            out += found or [AlignedFace(str(path), "empty_directory", f"no image file (extensions Pillow reads) in "
                                                                        f"{path}")]
        else:
            out.append(path)
    return out


class FaceAligner:
    """Detection, alignment and landmarks for a list of files, batched (see the module docstring).

    ``backend`` None gives every face all-zero landmarks (a method that does not use them); ``aligned`` treats
    every file as an aligned crop, as ``prepare`` treats FERPlus' and RAF-DB's (no detection, resized).
    """

    def __init__(self, image_size: int, backend: ImageLandmarkBackend | None, *, aligned: bool = False,
                 device: str = "cpu"):
        self.image_size, self.backend, self.aligned, self.device = image_size, backend, aligned, device
        self._detector: MtcnnDetector | None = None

    def detector(self) -> MtcnnDetector:
        if self._detector is None:
            self._detector = MtcnnDetector(device=self.device)
        return self._detector

    def align(self, files: Sequence[Path]) -> list[AlignedFace]:
        faces: list[AlignedFace] = []
        decoded: list[tuple[int, np.ndarray]] = []
        for path in files:
            try:
                image = decode_rgb(path)
            except ImageDecodeError as error:
                faces.append(AlignedFace(str(path), "unreadable", error.reason))
                continue
            if min(image.shape[:2]) < MIN_IMAGE_SIDE:
                size = f"{image.shape[1]} x {image.shape[0]}"
                faces.append(AlignedFace(str(path), "unreadable", f"a side under {MIN_IMAGE_SIDE} pixels ({size}): "
                                                                  "no face fits"))
                continue
            faces.append(AlignedFace(str(path), "ok"))
            decoded.append((len(faces) - 1, image))
        found = self._matrices(faces, decoded)
        pending = [(i, image, matrix, box) for (i, image), (matrix, box) in zip(decoded, found) if matrix is not None]
        if pending:
            self._landmarks(faces, pending)
        return faces

    def _matrices(self, faces: list[AlignedFace], decoded: list[tuple[int, np.ndarray]]) -> list[tuple]:
        """Per decoded image: (transform onto the 224 px frame, face box in the aligned frame or None), or
        (None, None) where no face was found (its entry is marked)."""
        if self.aligned:
            for i, image in decoded:
                faces[i].box = (0.0, 0.0, float(image.shape[1] - 1), float(image.shape[0] - 1))
            return [(resize_transform(image.shape[1], image.shape[0], REFERENCE_SIZE), None) for _, image in decoded]
        detections = self.detector().detect([image for _, image in decoded]) if decoded else []
        out = []
        for (i, image), detection in zip(decoded, detections):
            if detection is None:
                faces[i].status = "no_face"
                faces[i].reason = (f"{self.detector().description}: no face found ({image.shape[1]} x "
                                   f"{image.shape[0]} px; MTCNN looks for faces of 20 px and more; a tight crop "
                                   "of an aligned face may need --aligned)")
                out.append((None, None))
                continue
            faces[i].box = tuple(float(v) for v in detection[0])
            out.append(detection_to_frame(*detection))
        return out

    def _landmarks(self, faces: list[AlignedFace], pending: list[tuple]) -> None:
        if self.backend is None:
            predictions = [(np.zeros((NUM_LANDMARKS, 3), np.float32), "")] * len(pending)
        else:
            frames = np.stack([warp_image(image, matrix, REFERENCE_SIZE) for _, image, matrix, _ in pending])
            predictions = self.backend.predict(frames, [box for _, _, _, box in pending])
        for (i, image, matrix, _), (points, note) in zip(pending, predictions):
            if points is None or not np.isfinite(points).all():
                faces[i].status = "no_landmarks"
                faces[i].reason = note or f"{self.backend.name}: no landmarks on the aligned face"
                continue
            faces[i].image = warp_image(image, rescale_transform(matrix, REFERENCE_SIZE, self.image_size),
                                        self.image_size)
            points = np.asarray(points, dtype=np.float32).copy()
            points[:, 2] = np.clip(points[:, 2], 0, 1)
            faces[i].landmarks = rescale_points(points, REFERENCE_SIZE, self.image_size)
