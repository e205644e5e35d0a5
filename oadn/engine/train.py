"""Training as one plain function: data, model, SGD, per-epoch validation, atomic checkpoints, final test.

Model selection only ever looks at the validation split (carved from training data unless the protocol has
one); test splits are evaluated once, at the end, with the selected weights.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from oadn.config import DataConfig, RunConfig
from oadn.data.faces import FaceSource, SubsetSource
from oadn.data.registry import DatasetAdapter, get_dataset
from oadn.engine.evaluate import autocast_for, metrics_by_branch, predict
from oadn.engine.loader import make_loader, to_device
from oadn.models import create_model
from oadn.models.advice import warn_large_backbone_from_scratch
from oadn.models.base import FERModel
from oadn.progress import progress_bar
from oadn.runs import load_config, load_metrics, save_config, save_json, save_parquet, save_torch

StepHook = Callable[[int, int], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept untouched."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name!r} but no CUDA device is available")
    return device


def carve_validation(source: FaceSource, fraction: float, seed: int) -> tuple[FaceSource, FaceSource | None]:
    """Split ``fraction`` of the training data off, stratified by class, deterministically from ``seed``."""
    if fraction <= 0:
        return source, None
    if not 0 < fraction < 1:
        raise ValueError(f"data.val_fraction must be in [0, 1), got {fraction}")
    labels = np.asarray(source.labels)
    indices = np.arange(len(labels))
    counts = np.bincount(labels)
    classes = int((counts > 0).sum())
    val_size = int(np.ceil(fraction * len(labels)))
    # stratification needs two items per class and room for every class on both sides
    can_stratify = counts[counts > 0].min() >= 2 and classes <= val_size <= len(labels) - classes
    stratify = labels if can_stratify else None
    train_idx, val_idx = train_test_split(indices, test_size=fraction, random_state=seed, stratify=stratify)
    return SubsetSource(source, np.sort(train_idx)), SubsetSource(source, np.sort(val_idx))


def open_data_split(adapter: DatasetAdapter, data: DataConfig, split: str, root: Path | None = None) -> FaceSource:
    """``split`` of ``adapter`` as the run's data config asks (root, input size, split options)."""
    root = root if root is not None else (Path(data.root) if data.root else None)
    return adapter.open_split(split, root=root, image_size=data.image_size, **data.split_options)


def open_splits(config: RunConfig) -> tuple[DatasetAdapter, FaceSource, FaceSource | None]:
    """The data set's adapter, the training source and the validation source of a run."""
    data = config.data
    adapter = get_dataset(data.name, **data.options)
    train_source = open_data_split(adapter, data, data.train_split)
    if data.val_split:
        return adapter, train_source, open_data_split(adapter, data, data.val_split)
    train_source, val_source = carve_validation(train_source, data.val_fraction, config.train.seed)
    return adapter, train_source, val_source


class BadImageLog:
    """Unreadable images met during the run, de-duplicated and kept in ``bad_images.csv``."""

    COLUMNS = ["split", "image_id", "path", "reason"]

    def __init__(self, path: Path):
        self.path = path
        frame = pd.read_csv(path, dtype=str) if path.is_file() else pd.DataFrame(columns=self.COLUMNS)
        self.rows = {(r.split, r.image_id): r._asdict() for r in frame[self.COLUMNS].itertuples(index=False)}

    def add(self, split: str, records: list[tuple[str, str, str]]) -> None:
        for image_id, path, reason in records:
            self.rows.setdefault((split, image_id), dict(split=split, image_id=image_id, path=path, reason=reason))

    def flush(self) -> None:
        if self.rows:
            pd.DataFrame(list(self.rows.values()), columns=self.COLUMNS).to_csv(self.path, index=False)


def _selection_score(metrics: dict[str, Any], name: str) -> float:
    prediction = metrics["prediction"]
    if name not in prediction:
        raise KeyError(f"train.select_metric={name!r} is not a metric; use accuracy or mean_class_accuracy")
    return float(prediction[name])


def _train_one_epoch(
    model: FERModel,
    loader,
    optimizer: torch.optim.Optimizer,
    config: RunConfig,
    device: torch.device,
    epoch: int,
    bad_log: BadImageLog,
    progress: bool,
    step_hook: StepHook | None,
) -> dict[str, float]:
    model.train()
    loader.set_epoch(epoch)
    channels_last = device.type == "cuda" and config.train.amp
    sums: dict[str, torch.Tensor] = {}
    steps = 0
    seen = 0

    def check_finite() -> dict[str, float]:
        means = {name: (total / max(steps, 1)).item() for name, total in sums.items()}
        if any(not math.isfinite(v) for v in means.values()):
            raise TrainingDiverged(
                f"loss became {means.get('loss')} in epoch {epoch + 1} (by step {steps}); stopped. The last good "
                "checkpoint (previous epoch) is kept: lower train.lr or check the data, then --resume."
            )
        return means

    with progress_bar(progress) as bar:
        task = bar.add_task(f"epoch {epoch + 1}/{config.train.epochs}", total=len(loader), info="")
        for batch in loader:
            bad_log.add(config.data.train_split, batch["bad"])
            if batch["size"] == 0:
                bar.advance(task)
                continue
            images, landmarks = to_device(batch, device, channels_last)
            targets = batch.get("soft_target", batch.get("train_label", batch["label"]))
            with autocast_for(device, config.train.amp):
                outputs = model(images, landmarks)
            loss, parts = model.loss(outputs, targets.to(device), config.train.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in parts.items():
                sums[name] = sums.get(name, 0) + value
            steps += 1
            seen += batch["size"]
            if steps % 20 == 0:
                bar.update(task, info=f"loss {check_finite()['loss']:.4f}")
            bar.advance(task)
            if step_hook is not None:
                step_hook(epoch, steps)
    means = check_finite()
    means["images"] = seen
    return means


def train_run(
    config: RunConfig | None,
    run_dir: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    step_hook: StepHook | None = None,
) -> dict[str, Any]:
    """Train, select on validation, evaluate on test splits; returns (and writes) the final metrics.

    With ``resume=True`` the configuration is read from ``run_dir`` and training continues after the last
    completed epoch; a finished run returns its metrics without recomputing them.
    """
    run_dir = Path(run_dir)
    if resume:
        config = load_config(run_dir)
        if (run_dir / "metrics.json").is_file():
            return load_metrics(run_dir)
    else:
        if config is None:
            raise ValueError("a configuration is needed unless resuming")
        if (run_dir / "config.yaml").exists():
            raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it or pick a new name")
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir)
    assert config is not None

    torch.manual_seed(config.train.seed)
    warn_large_backbone_from_scratch(config.model)
    device = resolve_device(config.train.device)
    adapter, train_source, val_source = open_splits(config)
    classes = adapter.classes
    model = create_model(config.model, len(classes), config.data.image_size).to(device)
    if device.type == "cuda" and config.train.amp:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.train.lr,
        momentum=config.train.momentum,
        weight_decay=config.train.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=config.train.lr_milestones, gamma=config.train.lr_gamma
    )
    state: dict[str, Any] = {"epoch": 0, "best_score": -math.inf, "best_epoch": None, "history": []}
    checkpoint_path = run_dir / "checkpoint.pt"
    if resume and checkpoint_path.is_file():
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        state = checkpoint["state"]

    class_weights = None
    if config.data.balanced_sampler:
        from oadn.data.sampling import class_balanced_weights

        class_weights = class_balanced_weights(np.asarray(train_source.labels))
    loader = make_loader(
        train_source,
        batch_size=config.train.batch_size,
        train=True,
        seed=config.train.seed,
        hflip=config.data.hflip,
        num_workers=config.data.num_workers,
        on_bad_image=config.data.on_bad_image,
        class_weights=class_weights,
        target_mode=getattr(adapter, "target_mode", "hard"),
    )
    bad_log = BadImageLog(run_dir / "bad_images.csv")
    eval_kwargs = dict(
        device=device,
        batch_size=config.train.eval_batch_size,
        amp=config.train.amp,
        num_workers=config.data.num_workers,
        on_bad_image=config.data.on_bad_image,
        progress=progress,
    )

    for epoch in range(state["epoch"], config.train.epochs):
        started = time.perf_counter()
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        row.update(
            _train_one_epoch(model, loader, optimizer, config, device, epoch, bad_log, progress, step_hook)
        )
        scheduler.step()
        if val_source is not None:
            frame, bad = predict(model, val_source, description="validate", **eval_kwargs)
            bad_log.add("val", bad)
            val_metrics = metrics_by_branch(frame, classes)
            row.update({f"val_{k}": val_metrics["prediction"][k] for k in ("accuracy", "mean_class_accuracy")})
            score = _selection_score(val_metrics, config.train.select_metric)
            if score > state["best_score"]:
                state["best_score"], state["best_epoch"], state["best_val"] = score, epoch + 1, val_metrics
                save_torch(model.state_dict(), run_dir / "best.pt")
        row["seconds"] = round(time.perf_counter() - started, 2)
        state["epoch"] = epoch + 1
        state["history"].append(row)
        save_torch(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "state": state,
            },
            checkpoint_path,
        )
        pd.DataFrame(state["history"]).to_json(run_dir / "history.jsonl", orient="records", lines=True)
        bad_log.flush()

    if val_source is None:
        state["best_epoch"] = state["epoch"]
        save_torch(model.state_dict(), run_dir / "best.pt")
    model.load_state_dict(torch.load(run_dir / "best.pt", map_location=device, weights_only=True))
    return _final_evaluation(model, config, adapter, run_dir, state, bad_log, eval_kwargs)


def _final_evaluation(model, config, adapter, run_dir, state, bad_log, eval_kwargs) -> dict[str, Any]:
    """Test splits, once, with the selected weights; the validation figures are those of the selected epoch."""
    classes = adapter.classes
    splits: dict[str, Any] = {"val": state["best_val"]} if "best_val" in state else {}
    for split in config.data.test_splits:
        source = open_data_split(adapter, config.data, split)
        frame, bad = predict(model, source, description=f"test {split}", **eval_kwargs)
        bad_log.add(split, bad)
        save_parquet(frame, run_dir / "predictions" / f"{split}.parquet")
        splits[split] = metrics_by_branch(frame, classes)
    bad_log.flush()
    metrics = {
        "selected_epoch": state["best_epoch"],
        "select_metric": config.train.select_metric,
        "epochs": state["epoch"],
        "bad_images": len(bad_log.rows),
        "splits": splits,
    }
    save_json(metrics, run_dir / "metrics.json")
    return metrics

