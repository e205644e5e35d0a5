"""Checks a run must pass before anything is written or trained: every split opens, every option is known,
the input size fits the backbone, the device exists. A mistake stops the run at once, named, instead of after
the last epoch (a test split that does not exist) or as a torch error (an input too small for the backbone)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from oadn.common.commands import command_line
from oadn.config import ConfigError, RunConfig, options_class
from oadn.data.faces import FaceSource
from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.data.registry import DatasetAdapter, open_dataset
from oadn.engine.device import resolve_device
from oadn.engine.loggers import check_loggers
from oadn.engine.splits import open_data_split
from oadn.models import model_class
from oadn.models.backbones import create_backbone
from oadn.models.pretrained import is_local_file

#: faces read to check the training set's landmark scores (a sample: reading every face would cost an epoch)
LANDMARK_SAMPLE = 64
#: what preflight hands training: the run's adapter and every split it opened, by name
OpenedRun = tuple[DatasetAdapter, dict[str, FaceSource]]


def open_adapter(config: RunConfig) -> DatasetAdapter:
    """The run's data set adapter; an unknown name, protocol option or option value is a ConfigError naming the
    key and the valid ones."""
    data = config.data
    adapter = open_dataset(data.name, data.options, "config.data.name", "config.data.options").at_root(data.root)
    problem = adapter.training_problem()
    if problem:
        raise ConfigError(f"config.data: {problem}")
    return adapter


def split_keys(config: RunConfig) -> list[tuple[str, str]]:
    """(config key, split name) for every split the run opens."""
    data = config.data
    named = [("data.train_split", data.train_split)]
    if data.val_split:
        named.append(("data.val_split", data.val_split))
    return named + [("data.test_splits", split) for split in data.test_splits]


def check_splits(config: RunConfig, adapter: DatasetAdapter) -> dict[str, FaceSource]:
    """Open every split the run uses (train, validation, test), so a wrong name, option or cache fails now."""
    data = config.data
    for key, split in split_keys(config):
        if split not in adapter.splits:
            others = ", ".join(s for s in adapter.splits if s != "train")
            example = command_line("--set", f"data.test_splits=[{others}]")
            raise ConfigError(
                f"config.{key}: data set {data.name!r} has no split {split!r}; it has {', '.join(adapter.splits)}"
                + (f" (e.g. {example})" if key == "data.test_splits" else "")
            )
    valid = adapter.split_option_names()
    unknown = sorted(set(data.split_options) - valid) if valid is not None else []
    if unknown:
        raise ConfigError(
            f"config.data.split_options: unknown key(s) {', '.join(map(repr, unknown))} for {data.name}; "
            f"valid: {', '.join(sorted(valid))}"
        )
    sources = {}
    for key, split in split_keys(config):
        try:
            source = open_data_split(adapter, data, split)
        except (TypeError, RuntimeError) as error:
            raise ValueError(f"cannot open split {split!r} of {data.name} ({key}): {error}") from error
        if len(source) == 0:
            raise ValueError(f"split {split!r} of {data.name} ({key}) holds no image")
        sources[split] = source
    return sources


def check_model(config: RunConfig) -> None:
    """Model name, pretrained file, and an input size that leaves the backbone a feature map big enough for
    what the method says it needs."""
    model = config.model
    options_class(model.name)  # an unknown method is named with every registered one
    # a timm tag (imagenet, ...) is fetched or named missing when the backbone is built; a file must exist now
    if model.pretrained and is_local_file(model.pretrained) and not Path(model.pretrained).is_file():
        raise ConfigError(f"config.model.pretrained = {model.pretrained!r}: no such file")
    try:
        backbone = create_backbone(model.backbone)
    except KeyError as error:
        raise ConfigError(f"config.model.backbone: {error.args[0]}") from error
    stride = backbone.stride
    side = model_class(model.name).min_feature_cells(model)
    cells = backbone.feature_side(config.data.image_size)
    if cells < side:
        need = f"a map of at least {side}x{side} cells" if side > 1 else "one cell"
        raise ConfigError(
            f"config.data.image_size = {config.data.image_size} is too small for backbone {model.backbone} "
            f"(stride {stride}): its feature map is {cells}x{cells} but {model.name} needs {need}; "
            f"use data.image_size >= {backbone.smallest_input(side)}"
        )


def check_device(config: RunConfig) -> torch.device:
    try:
        return resolve_device(config.train.device)
    except RuntimeError as error:
        raise ConfigError(f"config.train.device = {config.train.device!r}: {error}") from error


def check_writable(run_dir: Path) -> None:
    """The run directory (or the folder it will be made in) must be writable now, not after the first epoch."""
    folder = Path(run_dir)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder; cannot make run directory {run_dir} there")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder} is not writable; the run directory {run_dir} cannot be written")
    for path in (Path(run_dir).glob("*") if Path(run_dir).is_dir() else []):
        if path.is_file() and not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is read-only; the run cannot be continued there")


def check_run(config: RunConfig, run_dir: Path) -> OpenedRun:
    """Everything above, in order of cost; raises ConfigError (a bad value) or ValueError/OSError (bad data).
    Returns the adapter and the splits it opened, for training to use rather than open again."""
    check_writable(run_dir)
    check_device(config)
    check_model(config)
    check_loggers(config)
    adapter = open_adapter(config)
    return adapter, check_splits(config, adapter)


def discard_unstarted(run_dir: Path, created: bool) -> None:
    """After a failure before the first checkpoint, remove what the run wrote, so the same command can be
    run again (a left-over config.yaml would make it ask for --resume)."""
    run_dir = Path(run_dir)
    if (run_dir / "checkpoint.pt").exists():
        return
    for name in ("config.yaml", "data.json", "bad_images.csv", "history.jsonl", ".lock"):
        (run_dir / name).unlink(missing_ok=True)
    if created and run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()


def warn_if_landmarks_unusable(source: FaceSource, threshold: float) -> None:
    """Warn when no sampled training face has a landmark scoring >= T: OADN's attention branch would see no
    interest point and could not learn; and when landmarks are NaN (they would make the loss NaN)."""
    picks = np.unique(np.linspace(0, len(source) - 1, min(len(source), LANDMARK_SAMPLE)).astype(np.int64))
    landmarks = source.read(picks).landmarks if len(picks) else np.zeros((0, NUM_LANDMARKS, 3))  # unreadable
    count = len(landmarks)  # faces are left out: the loader records them when training meets them
    nan_faces = int((~np.isfinite(landmarks).all(axis=(1, 2))).sum())
    if nan_faces:
        warnings.warn(f"{nan_faces} of {count} sampled training faces have NaN/inf landmarks; the loss will be NaN")
    scores = landmarks[..., 2][np.isfinite(landmarks[..., 2])]
    if count and (scores.size == 0 or scores.max() < threshold):
        best = f"{scores.max():.3f}" if scores.size else "none"
        warnings.warn(
            f"every landmark score of {count} sampled training faces is below model.threshold = {threshold} "
            f"(highest {best}): the attention branch gets no interest point and cannot learn; lower "
            "model.threshold or check the landmarks"
        )
