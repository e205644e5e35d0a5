"""Training as one plain function: data, model, SGD, per-epoch validation, atomic checkpoints, final test.

Model selection only ever looks at the validation split (carved from training data unless the protocol has
one); test splits are evaluated once, at the end, with the selected weights.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from oadn.common.commands import command_line
from oadn.common.files import TEMPORARY_GLOB, load_torch, save_json, save_parquet, save_torch
from oadn.common.progress import epoch_line, progress_bar
from oadn.config import ConfigError, RunConfig, config_to_dict
from oadn.data.fingerprint import data_fingerprints, same_splits
from oadn.data.fingerprint import differences as fingerprint_differences
from oadn.data.on_disk import parsed_once
from oadn.data.registry import DatasetAdapter
from oadn.data.sampling import class_balanced_weights
from oadn.engine import distributed
from oadn.engine.augment import make_augment
from oadn.engine.compiling import compile_mode, compile_step, step_begins
from oadn.engine.device import autocast_for, fast_layout, precision_for, resolve_device
from oadn.engine.loader import make_loader, to_device, training_targets
from oadn.engine.loggers import make_loggers
from oadn.engine.optim import make_optimizer, make_schedule
from oadn.engine.predict import metrics_by_branch, predict
from oadn.engine.preflight import OpenedRun, check_run, discard_unstarted, warn_if_landmarks_unusable
from oadn.engine.resume import OPTIMISER_KEYS, ResumePlan, plan_resume, record_changes, restore_best, retune_optimizer
from oadn.engine.run_dir import (
    DATA_RECORD,
    BadImageLog,
    RunLock,
    data_record,
    load_config,
    load_data_record,
    load_metrics,
    remove_temporaries,
    save_config,
    splits_read,
)
from oadn.engine.splits import open_data_split, open_splits
from oadn.models import create_model
from oadn.models.advice import warn_large_backbone_from_scratch
from oadn.models.backbones import input_normalisation
from oadn.models.base import FERModel

StepHook = Callable[[int, int], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept untouched."""


@dataclass
class TrainingStep:
    """What one optimisation step calls: ``forward`` and ``loss`` are ``model`` and ``model.loss`` or their DDP /
    compiled wrappers, compiled in torch.compile ``mode`` (None: eager)."""

    model: FERModel
    forward: Callable
    loss: Callable
    optimizer: torch.optim.Optimizer
    device: torch.device
    mode: str | None


def _selection_score(metrics: dict[str, Any], name: str) -> float:
    prediction = metrics["prediction"]
    if name not in prediction:
        raise KeyError(f"train.select_metric={name!r} is not a metric; use accuracy or mean_class_accuracy")
    return float(prediction[name])


def _train_one_epoch(
    step: TrainingStep,
    loader,
    config: RunConfig,
    epoch: int,
    bad_log: BadImageLog,
    progress: bool,
    step_hook: StepHook | None,
) -> dict[str, float]:
    """One epoch of training steps; the mean of each loss part over its steps, and the images seen."""
    model, device = step.model, step.device
    model.train()
    precision = precision_for(device, config.train.amp, config.train.cpu_amp)
    normalisation = input_normalisation(model.backbone)
    augment = make_augment(config, device)
    sums: dict[str, torch.Tensor] = {}
    steps = 0
    seen = 0
    nan_faces = 0

    def check_finite() -> dict[str, float]:
        means = {name: (total / max(steps, 1)).item() for name, total in distributed.mean_over_ranks(sums).items()}
        if any(not math.isfinite(v) for v in means.values()):
            raise TrainingDiverged(
                f"loss became {means.get('loss')} in epoch {epoch + 1} (by step {steps}); stopped"
                + (f"; {nan_faces} training face(s) so far had NaN/inf landmarks, which make the loss NaN"
                   if nan_faces else "")
            )
        return means

    with progress_bar(progress) as bar:
        task = bar.add_task(f"epoch {epoch + 1}/{config.train.epochs}", total=len(loader), info="")
        for batch in loader.epoch(epoch):
            bad_log.add(config.data.train_split, batch["bad"])
            if batch["size"] == 0:
                bar.advance(task)
                continue
            nan_faces += batch["nan_faces"]
            images, landmarks = to_device(batch, device, precision.channels_last, normalisation)
            if augment is not None:
                images, landmarks = augment(images, landmarks, epoch, steps)
            targets = training_targets(batch, device)
            step_begins(step.mode)
            with autocast_for(device, precision):
                outputs = step.forward(images, landmarks)
            loss, parts = step.loss(outputs, targets, config.train.label_smoothing)
            step.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            step.optimizer.step()
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
    means["images"] = distributed.total_over_ranks(seen)
    return means


def train_run(
    config: RunConfig | None,
    run_dir: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    step_hook: StepHook | None = None,
    changes: Sequence[str] = (),
) -> dict[str, Any]:
    """Train, select on validation, evaluate on test splits; returns (and writes) the final metrics.

    With ``resume=True`` the configuration is read from ``run_dir`` and training continues after the last
    completed epoch; a finished run returns its metrics without recomputing them. ``changes`` (``KEY=VALUE``)
    continue it with other optimiser settings (see ``oadn.engine.resume``). The run directory is locked
    meanwhile; everything is checked before the first step, and a new run that fails before training leaves
    nothing behind.
    """
    with parsed_once():
        return _train_run(config, Path(run_dir), resume=resume, progress=progress, step_hook=step_hook,
                          changes=changes)


def _train_run(config: RunConfig | None, run_dir: Path, *, resume: bool, progress: bool,
               step_hook: StepHook | None, changes: Sequence[str]) -> dict[str, Any]:
    distributed.setup()
    main = distributed.is_main()
    if not resume:
        if config is None:
            raise ValueError("a configuration is needed unless resuming")
        if (run_dir / "config.yaml").exists():
            raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it or pick a new name")
        refuse_foreign_files(run_dir)
    opened = None if resume else check_run(config, run_dir)
    created = not run_dir.exists()
    # One process owns a run directory; under torchrun that is rank 0 (the other ranks write nothing).
    with (RunLock(run_dir) if main else nullcontext()) as lock:
        if main and lock.stale:
            warnings.warn(f"{run_dir}: {lock.stale}")
        if main:
            remove_temporaries(run_dir)
        try:
            if resume and (run_dir / "metrics.json").is_file():
                if changes:
                    raise ConfigError(f"{run_dir} is finished; --set cannot change it (start a new run instead)")
                return load_metrics(run_dir)
            config, plan, opened = _settle(config, run_dir, resume=resume, changes=changes, opened=opened, main=main)
            return _train(config, run_dir, plan=plan, opened=opened, main=main, progress=progress,
                          step_hook=step_hook)
        except TrainingDiverged as error:
            raise TrainingDiverged(f"{error}. {diverged_advice(run_dir)}") from error
        except FileExistsError:  # another process made this run meanwhile: its files are not ours to remove
            raise
        except Exception:
            if main and not resume:
                discard_unstarted(run_dir, created)
            raise


def refuse_foreign_files(run_dir: Path) -> None:
    """A new run goes into a new or empty folder: one holding other files (a user's metrics.json, a paper draft)
    would have them overwritten or mixed with the run's."""
    if not run_dir.is_dir():
        return
    others = sorted(p.name for p in run_dir.iterdir() if p.name != ".lock" and not p.match(TEMPORARY_GLOB))
    if others:
        shown = ", ".join(others[:6]) + (f" and {len(others) - 6} more" if len(others) > 6 else "")
        raise FileExistsError(f"{run_dir} holds files that are not a run's ({shown}); a new run needs a new or "
                              f"empty folder: pick another --run-dir")


def require_finite_weights(model: torch.nn.Module, epoch: int) -> None:
    """TrainingDiverged when a weight or buffer is NaN or infinite: a step can leave such weights behind while the
    loss it reported was still finite (one step an epoch at a huge learning rate), and a checkpoint of them is no
    good one to resume from or score. Called on every rank (their weights are the same), before anything is saved."""
    state = {name: tensor for name, tensor in model.state_dict().items() if tensor.is_floating_point()}
    if bool(torch.stack([torch.isfinite(tensor).all() for tensor in state.values()]).all()):
        return
    first = next(name for name, tensor in state.items() if not bool(torch.isfinite(tensor).all()))
    raise TrainingDiverged(f"the weights became NaN or infinite in epoch {epoch + 1} (first: {first}); stopped "
                           "before saving them")


def diverged_advice(run_dir: Path) -> str:
    """What to do after a NaN loss, as a command that can be run as is; never the learning rate that failed."""
    lr = load_config(run_dir).train.lr
    kept = "The last good checkpoint is kept" if (run_dir / "checkpoint.pt").is_file() else "No epoch was completed"
    lower = float(f"{lr / 10:g}")
    if not 0 < lower < lr:
        return (f"{kept}. Lower train.lr ({lr:g}) or fix the data, then resume: "
                f"{command_line('oadn-bench', 'train', '--resume', run_dir)}")
    return (
        f"{kept}. Continue with a lower learning rate: "
        f"{command_line('oadn-bench', 'train', '--resume', run_dir, '--set', f'train.lr={lower:g}')} (or fix the data "
        f"and resume)"
    )


def _settle(
    config: RunConfig | None,
    run_dir: Path,
    *,
    resume: bool,
    changes: Sequence[str],
    opened: OpenedRun | None,
    main: bool,
) -> tuple[RunConfig, ResumePlan | None, OpenedRun]:
    """The configuration to train with (a resume's, with its changes on record; or a new run's, saved), what
    continues from the checkpoint, and the checked, opened splits."""
    if resume:
        plan = plan_resume(run_dir, changes)
        opened = check_run(plan.config, run_dir)
        recorded, current = load_data_record(run_dir), data_record(plan.config, _fingerprints(plan.config, opened))
        if recorded is not None and current is not None and not same_splits(recorded["splits"], current["splits"]):
            changed = fingerprint_differences(recorded["splits"], current["splits"], splits_read(plan.config))
            raise ValueError(f"{run_dir} was trained on other data than {plan.config.data.root} holds now "
                             f"({'; '.join(changed)}); resume it on the data it started on, or start a new run")
        if main:
            record_changes(run_dir, plan)
        return plan.config, plan, opened
    assert config is not None and opened is not None
    if (run_dir / "config.yaml").exists():
        raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it or pick a new name")
    record = data_record(config, _fingerprints(config, opened))
    distributed.barrier()  # every rank has looked before rank 0 writes
    if main:
        save_config(config, run_dir)
        if record is not None:
            save_json(record, run_dir / DATA_RECORD)
    return config, None, opened


def _fingerprints(config: RunConfig, opened: OpenedRun) -> dict[str, Any] | None:
    return data_fingerprints(opened[0], config.data.root, config.data.split_options.get("cache_dir"))


def _train(
    config: RunConfig,
    run_dir: Path,
    *,
    plan: ResumePlan | None,
    opened: OpenedRun,
    main: bool,
    progress: bool,
    step_hook: StepHook | None,
) -> dict[str, Any]:
    """The epochs still to do, then the final evaluation with the selected weights."""
    torch.manual_seed(config.train.seed)
    if main:
        warn_large_backbone_from_scratch(config.model)
    device = distributed.local_device(resolve_device(config.train.device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    adapter, train_source, val_source = open_splits(config, opened)
    classes = adapter.classes
    model = create_model(config.model, len(classes), config.data.image_size)
    loaded = getattr(getattr(model, "backbone", None), "load_report", None)
    if loaded is not None and main:  # face-recognition weights: what was loaded and how inputs are normalised
        save_json(loaded.to_dict(), run_dir / "pretrained.json")
    model = distributed.sync_batch_norm(model, device).to(device)
    precision = precision_for(device, config.train.amp, config.train.cpu_amp)
    fast_layout(model, precision)
    optimizer = make_optimizer(model, config.train)
    scheduler = make_schedule(optimizer, config.train)
    state: dict[str, Any] = {"epoch": 0, "best_score": -math.inf, "best_epoch": None, "history": []}
    checkpoint_path = run_dir / "checkpoint.pt"
    if plan is not None and plan.checkpoint is not None:
        checkpoint = plan.checkpoint
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        state = checkpoint["state"]
        if plan.changed.keys() & set(OPTIMISER_KEYS):  # a new worker count or device leaves the optimiser as saved
            if config.train.schedule != "step" or config.train.optimizer != "sgd":
                raise ValueError(f"--resume with changed optimiser settings ({', '.join(sorted(plan.changed))}) is "
                                 "supported for the paper's SGD step schedule only; start a new run")
            retune_optimizer(optimizer, scheduler.scheduler, config.train, state["epoch"])
        if main:
            restore_best(run_dir, checkpoint)
    if main and model.score_threshold() is not None:
        warn_if_landmarks_unusable(train_source, model.score_threshold())
    mode = compile_mode(config.train.compile, device)
    forward, loss_fn = compile_step(distributed.wrap(model, device), model.loss, mode)
    step = TrainingStep(model, forward, loss_fn, optimizer, device, mode)

    class_weights = None
    if config.data.balanced_sampler:
        class_weights = class_balanced_weights(np.asarray(train_source.labels))
    rank, world_size = distributed.rank_and_size()
    loader = make_loader(
        train_source,
        batch_size=distributed.local_batch_size(config.train.batch_size),
        train=True,
        seed=config.train.seed,
        hflip=config.data.hflip,
        num_workers=config.data.num_workers,
        on_bad_image=config.data.on_bad_image,
        class_weights=class_weights,
        target_mode=adapter.target_mode,
        rank=rank,
        world_size=world_size,
    )
    bad_log = BadImageLog(run_dir / "bad_images.csv")
    if main:
        bad_log.flush()  # written from the start, header only while every image reads
    eval_kwargs = dict(
        device=device,
        batch_size=config.train.eval_batch_size,
        precision=precision,
        num_workers=config.data.num_workers,
        on_bad_image=config.data.on_bad_image,
        progress=progress and main,
    )
    val_loader = None if val_source is None else make_loader(
        val_source, batch_size=config.train.eval_batch_size, train=False, seed=0, num_workers=config.data.num_workers,
        on_bad_image=config.data.on_bad_image, rank=rank, world_size=world_size,
    )

    loggers = make_loggers(config, run_dir, state["epoch"]) if main else []
    for epoch in range(state["epoch"], config.train.epochs):
        started = time.perf_counter()
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        row.update(_train_one_epoch(step, loader, config, epoch, bad_log, progress and main, step_hook))
        require_finite_weights(model, epoch)
        scheduler.step()
        bad_log.gather_ranks()
        if val_source is not None:
            predictions, bad = predict(model, val_source, description="validate", loader=val_loader, **eval_kwargs)
            bad_log.add("val", bad)
            val_metrics = metrics_by_branch(predictions, classes)
            row.update({f"val_{k}": val_metrics["prediction"][k] for k in ("accuracy", "mean_class_accuracy")})
            score = _selection_score(val_metrics, config.train.select_metric)
            improved = score > state["best_score"]
            if improved:
                state["best_score"], state["best_epoch"], state["best_val"] = score, epoch + 1, val_metrics
        row["seconds"] = round(time.perf_counter() - started, 2)
        state["epoch"] = epoch + 1
        state["history"].append(row)
        if not main:
            continue
        save_torch(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "state": state,
                "config": config_to_dict(config),
            },
            checkpoint_path,
        )
        if val_source is not None and improved:  # after the checkpoint: see oadn.engine.resume.restore_best
            save_torch(model.state_dict(), run_dir / "best.pt")
        pd.DataFrame(state["history"]).to_json(run_dir / "history.jsonl", orient="records", lines=True)
        for logger in loggers:
            logger.log(row)
        bad_log.flush()
        if not progress:
            print(epoch_line(row, config.train.epochs), flush=True)

    for logger in loggers:
        logger.close()
    loader.close()  # its workers would otherwise sit on the batches they prepared for an epoch that never comes
    if val_source is None:
        state["best_epoch"] = state["epoch"]
        if main:
            save_torch(model.state_dict(), run_dir / "best.pt")
    distributed.barrier()  # rank 0 has written best.pt
    model.load_state_dict(load_torch(run_dir / "best.pt", map_location=device))
    return _final_evaluation(model, config, adapter, run_dir, state, bad_log, eval_kwargs, opened[1])


def _final_evaluation(
    model: FERModel,
    config: RunConfig,
    adapter: DatasetAdapter,
    run_dir: Path,
    state: dict[str, Any],
    bad_log: BadImageLog,
    eval_kwargs: dict[str, Any],
    opened: dict[str, Any],
) -> dict[str, Any]:
    """Test splits, once, with the selected weights (``opened``: the splits preflight opened, not opened again);
    the validation figures are those of the selected epoch."""
    classes = adapter.classes
    splits: dict[str, Any] = {"val": state["best_val"]} if "best_val" in state else {}
    for split in config.data.test_splits:
        source = opened[split] if split in opened else open_data_split(adapter, config.data, split)
        predictions, bad = predict(model, source, description=f"test {split}", **eval_kwargs)
        bad_log.add(split, bad)
        if distributed.is_main():
            save_parquet(predictions, run_dir / "predictions" / f"{split}.parquet")
        splits[split] = metrics_by_branch(predictions, classes)
    metrics = {
        "selected_epoch": state["best_epoch"],
        "select_metric": config.train.select_metric,
        "epochs": state["epoch"],
        "bad_images": len(bad_log.rows),
        "splits": splits,
    }
    if distributed.is_main():
        bad_log.flush()
        save_json(metrics, run_dir / "metrics.json")
    return metrics
