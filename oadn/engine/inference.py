"""A trained run on a researcher's own images: ``load_run(path).predict(images)``.

The run's own preprocessing is read from its recorded configuration: the input size, the method and its
test-time settings (T, sigma), the backbone's normalisation, and the landmark backend (the run's
``data.split_options.landmarks``, else the one its prepared cache was made with, else ``landmarks=`` must say;
a run trained on synthetic faces, whose landmarks are drawn with them, has none). Faces are found and aligned as
``prepare`` does (MTCNN, five-point similarity; :mod:`oadn.preprocess.face_images`). A file with no face, an
unreadable file or a folder without images is a row with its status and reason; nothing stops the others.

The table has one row per file (the main face, the largest confident one, as ``prepare`` keeps): its face box in
the file's pixels, every class's probability fused (``p_<class>``) and per branch (``<branch>_p_<class>``, OADN's
``lab`` and ``frb``), the predicted class, and, for a method that drops interest points by their scores, the
points kept under T (a count, and a 24-character mask in the paper's point order: ``K`` kept, ``-`` dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from oadn.common.files import load_torch
from oadn.common.progress import progress_bar
from oadn.config import RunConfig
from oadn.data.geometry import face_found, interest_points, kept_points
from oadn.data.landmarks.base import ImageLandmarkBackend, make_backend
from oadn.data.registry import get_dataset
from oadn.engine.device import resolve_device
from oadn.engine.loader import to_device
from oadn.engine.run_dir import load_config, load_metrics
from oadn.models import create_model
from oadn.models.backbones import input_normalisation
from oadn.preprocess.face_images import AlignedFace, FaceAligner, image_files

#: files aligned and scored together
BATCH = 32
#: CSV columns before the probabilities
LEADING = ["file", "status", "reason", "box_x0", "box_y0", "box_x1", "box_y1", "predicted", "confidence"]


class PredictError(RuntimeError):
    """A run that cannot predict here (no weights, no landmark backend it can name or run)."""


@dataclass
class FacePrediction:
    """One file's outcome: the aligned face and what the model said about it (``probabilities`` by branch)."""

    face: AlignedFace
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)
    #: the 24 interest points (x, y, score) in the aligned face's pixels, and which were kept under T
    points: np.ndarray | None = None
    kept: np.ndarray | None = None


class TrainedRun:
    """A run directory's selected weights with everything needed to score new faces (see the module docstring)."""

    def __init__(self, run_dir: Path, config: RunConfig, classes: Sequence[str], device: torch.device):
        self.run_dir, self.config, self.classes, self.device = run_dir, config, tuple(classes), device
        self.model = create_model(config.model, len(classes), config.data.image_size).to(device).eval()
        self.model.load_state_dict(load_torch(run_dir / "best.pt", map_location=device))
        self.normalisation = input_normalisation(getattr(self.model, "backbone", self.model))
        #: the method's T (OADN's ``model.threshold``); None for a method that reads no landmark scores
        self.threshold = self.model.score_threshold()

    @property
    def image_size(self) -> int:
        return self.config.data.image_size

    def landmark_spec(self, landmarks: str | None = None) -> str | None:
        """The landmark backend faces get: ``landmarks`` if given, else the run's; None for a method that uses
        none."""
        if landmarks:
            return landmarks
        if not self.model.uses_landmarks:
            return None
        recorded = self.config.data.split_options.get("landmarks") or _cache_landmarks(self.config)
        if recorded is None:
            raise PredictError(f"{self.run_dir}: the run records no landmark backend (trained on "
                               f"{self.config.data.name}, whose landmarks do not come from one, or its prepared "
                               f"cache is not here); pass landmarks= (--landmarks fan or dlib)")
        return recorded

    def predict_faces(self, images: Iterable[str | Path], *, landmarks: str | None = None, aligned: bool = False,
                      progress: bool = False) -> list[FacePrediction]:
        """Every file (folders expanded) aligned, landmarked and scored; see the module docstring."""
        entries = image_files(images)
        backend = _backend(self.landmark_spec(landmarks), str(self.device))
        aligner = FaceAligner(self.image_size, backend, aligned=aligned, device=str(self.device))
        out: list[FacePrediction] = []
        with progress_bar(progress) as bar:
            task = bar.add_task("predict", total=len(entries), info="")
            for start in range(0, len(entries), BATCH):
                chunk = entries[start : start + BATCH]
                files = [e for e in chunk if isinstance(e, Path)]
                aligned_faces = iter(aligner.align(files))
                faces = [next(aligned_faces) if isinstance(e, Path) else e for e in chunk]
                out += self._score(faces)
                bar.advance(task, len(chunk))
        return out

    def predict(self, images: Iterable[str | Path], *, landmarks: str | None = None, aligned: bool = False,
                progress: bool = False) -> pd.DataFrame:
        """The prediction table of ``images`` (files or folders): one row per file, see the module docstring."""
        return prediction_table(self.predict_faces(images, landmarks=landmarks, aligned=aligned, progress=progress),
                                self.classes, self.threshold)

    @torch.no_grad()
    def _score(self, faces: list[AlignedFace]) -> list[FacePrediction]:
        out = [FacePrediction(face) for face in faces]
        ready = [p for p in out if p.face.status == "ok"]
        if not ready:
            return out
        pixels = torch.from_numpy(np.stack([p.face.image for p in ready])).permute(0, 3, 1, 2).contiguous()
        marks = torch.from_numpy(np.stack([p.face.landmarks for p in ready]).astype(np.float32))
        images, marks = to_device({"image": pixels, "landmarks": marks, "frame": self.image_size}, self.device,
                                  False, self.normalisation)
        outputs = self.model(images, marks)
        scores = {name: values.float().cpu().numpy() for name, values in self.model.branch_scores(outputs).items()}
        points = interest_points(marks, self.image_size)
        kept = (kept_points(points, self.threshold, face_found(marks)).cpu().numpy()
                if self.threshold is not None and self.model.kept_point_counts(outputs) is not None else None)
        points = points.cpu().numpy()
        for k, prediction in enumerate(ready):
            prediction.probabilities = {name: values[k] for name, values in scores.items()}
            prediction.points = points[k]
            prediction.kept = kept[k] if kept is not None else None
        return out


def _cache_landmarks(config: RunConfig) -> str | None:
    """The landmark backend of the run's prepared cache, when the cache is here."""
    from oadn.data.prepared.source import find_cache

    root, options = config.data.root, config.data.split_options
    if not root:
        return None
    try:
        adapter = get_dataset(config.data.name, **config.data.options)
        return find_cache(adapter.cache_name, Path(root), cache_dir=options.get("cache_dir")).read_meta()["landmarks"]
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _backend(spec: str | None, device: str) -> ImageLandmarkBackend | None:
    if spec is None:
        return None
    backend = make_backend(spec, device=device)
    if not isinstance(backend, ImageLandmarkBackend):
        raise PredictError(f"landmarks {spec!r} come from a file or a data set's own list, which has none for new "
                           "images; pass --landmarks fan or dlib (a detector that runs on the image)")
    return backend


def prediction_table(predictions: Sequence[FacePrediction], classes: Sequence[str],
                     threshold: float | None) -> pd.DataFrame:
    """The rows of :func:`TrainedRun.predict` (see the module docstring)."""
    rows = []
    for item in predictions:
        face = item.face
        box = face.box if face.box is not None else (np.nan,) * 4
        row = {"file": face.file, "status": face.status, "reason": face.reason, "box_x0": box[0], "box_y0": box[1],
               "box_x1": box[2], "box_y1": box[3], "predicted": "", "confidence": np.nan}
        fused = item.probabilities.get("prediction")
        if fused is not None:
            row["predicted"] = classes[int(fused.argmax())]
            row["confidence"] = float(fused.max())
        for branch, values in item.probabilities.items():
            prefix = "p_" if branch == "prediction" else f"{branch}_p_"
            row.update({f"{prefix}{name}": float(v) for name, v in zip(classes, values)})
        if item.kept is not None:
            row["threshold"] = threshold
            row["kept_points"] = int(item.kept.sum())
            row["kept_mask"] = "".join("K" if k else "-" for k in item.kept)
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in LEADING:
        if column not in table:
            table[column] = pd.Series(dtype=object)
    if "kept_points" in table:  # a count, blank (not NaN, not 24.0) on a row without a face
        table["kept_points"] = table["kept_points"].astype("Int64")
    return table[LEADING + [c for c in table.columns if c not in LEADING]]


def run_classes(run_dir: Path, config: RunConfig) -> list[str]:
    """The classes the run predicts, in output order: from its final metrics, else its data set's."""
    if (run_dir / "metrics.json").is_file():
        for values in load_metrics(run_dir)["splits"].values():
            return list(values["prediction"]["classes"])
    adapter = get_dataset(config.data.name, **config.data.options)
    return list(adapter.at_root(config.data.root).classes if config.data.root else adapter.classes)


def load_run(path: str | Path, device: str = "auto") -> TrainedRun:
    """A run directory's selected weights (``best.pt``), ready to predict on new images."""
    run_dir = Path(path)
    if not (run_dir / "best.pt").is_file():
        raise PredictError(f"{run_dir / 'best.pt'}: no selected weights (is {run_dir} a run directory of a run that "
                           "has validated at least once?)")
    config = load_config(run_dir)
    return TrainedRun(run_dir, config, run_classes(run_dir, config), resolve_device(device))
