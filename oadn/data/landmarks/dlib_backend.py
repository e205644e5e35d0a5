"""dlib's 68-point shape predictor (optional extra: ``dlib-bin`` + ``face_recognition_models``).

dlib gives no per-point confidence, so every score is 1.0 and the description says so. The predictor needs a
face rectangle in dlib's detector convention: we run dlib's frontal detector on the aligned face and keep the
detection that overlaps the expected box best; when it finds none, the expected box itself is used. For aligned
crops without a box, the expected box is ``ALIGNED_CROP_BOX``, dlib's median detection (docs/data.md).
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np

from oadn.data.landmarks.base import (
    ALIGNED_CROP_BOX,
    FALLBACK_MARK,
    ImageLandmarkBackend,
    LandmarkBackendError,
    register_landmark_backend,
)

MIN_OVERLAP = 0.3
INSTALL_HINT = "pip install 'oadn-bench[dlib]' (dlib-bin and face_recognition_models)"


def _predictor_path() -> Path:
    # face_recognition_models' own helper imports pkg_resources, gone from recent setuptools: locate the file.
    spec = find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise LandmarkBackendError(f"the dlib backend needs face_recognition_models' 68-point model: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise LandmarkBackendError(f"expected dlib's 68-point model at {path}; reinstall face_recognition_models")
    return path


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@register_landmark_backend("dlib")
class DlibBackend(ImageLandmarkBackend):
    provides_scores = False

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as err:
            raise LandmarkBackendError(f"the dlib backend needs dlib: {INSTALL_HINT}") from err
        model = _predictor_path()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(model))
        self.description = f"dlib {dlib.__version__} {model.stem}; no scores (all 1.0)"

    def predict(self, images: np.ndarray, boxes: list[np.ndarray | None]) -> list[tuple[np.ndarray | None, str]]:
        return [self._one(np.ascontiguousarray(image), box) for image, box in zip(images, boxes)]

    def _one(self, image: np.ndarray, box: np.ndarray | None) -> tuple[np.ndarray, str]:
        size = image.shape[0]
        expected = np.asarray(box if box is not None else np.array(ALIGNED_CROP_BOX) * size, dtype=np.float64)
        found = [np.array([r.left(), r.top(), r.right(), r.bottom()], float) for r in self._detector(image, 0)]
        overlaps = [_iou(f, expected) for f in found]
        if overlaps and max(overlaps) >= MIN_OVERLAP:
            rect, note = found[int(np.argmax(overlaps))], "dlib box: detector"
        else:
            rect, note = expected, f"dlib box: expected box {FALLBACK_MARK}"
        x0, y0, x1, y1 = (int(round(v)) for v in rect)
        shape = self._predictor(image, self._dlib.rectangle(x0, y0, x1, y1))
        points = np.array([[p.x, p.y, 1.0] for p in shape.parts()], dtype=np.float32)
        return points, note
