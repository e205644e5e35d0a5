"""Resuming a run exactly as it was saved, or with optimiser settings changed on purpose and on record.

The configuration a run was trained with is kept inside ``checkpoint.pt``. A ``config.yaml`` edited by hand is
refused (the run would silently keep the old settings while the file shows new ones); the documented way to
change settings is ``oadn-bench train --resume DIR --set KEY=VALUE`` for the keys in ``RESUMABLE_KEYS``, which
rewrites ``config.yaml`` and appends the change to ``<run>/resume_changes.jsonl``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from oadn.common.commands import command_line
from oadn.common.files import TorchFileError, UnsafeTorchFileError, load_torch, save_torch
from oadn.config import (
    DURATION,
    LOCATION,
    OPTIMISER,
    ConfigError,
    RunConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    keys_with_role,
    merge,
    parse_override,
    run_config_from_dict,
)
from oadn.engine.run_dir import append_jsonl, load_config, load_metrics, save_config

#: settings that may change when a run continues (their roles say so): the optimiser's, the number of epochs, and
#: where data and compute are
RESUMABLE_KEYS = keys_with_role(OPTIMISER, DURATION, LOCATION)
OPTIMISER_KEYS = keys_with_role(OPTIMISER)
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "state")


class CheckpointDamaged(ValueError):
    """checkpoint.pt cannot be read (truncated, zero bytes, not a checkpoint)."""


@dataclass
class ResumePlan:
    config: RunConfig
    checkpoint: dict[str, Any] | None
    changed: dict[str, tuple[Any, Any]]


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):  # an empty mapping adds no key: {} and an absent key are the same
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(old: RunConfig, new: RunConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (old, new) for every value that differs."""
    a, b = flatten(config_to_dict(old)), flatten(config_to_dict(new))
    return {key: (a.get(key), b.get(key)) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)}


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint at ``path`` on the CPU; anything unreadable is CheckpointDamaged, saying what to do."""
    advice = (
        f"it cannot be resumed from. Move it away ({command_line('mv', path, f'{path}.damaged')}) and run "
        f"`{command_line('oadn-bench', 'train', '--resume', path.parent)}` to train this run again from its first "
        f"epoch with the same configuration"
    )
    if path.stat().st_size == 0:
        raise CheckpointDamaged(f"{path.name} is damaged: {path} is empty (0 bytes); {advice}")
    try:
        checkpoint = load_torch(path)
    except UnsafeTorchFileError as error:
        raise CheckpointDamaged(f"{error}; {advice}") from None
    except TorchFileError as error:
        raise CheckpointDamaged(f"{path.name} is damaged: {error}; {advice}") from None
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise CheckpointDamaged(f"{path.name} is damaged: {path} lacks {', '.join(missing)}; {advice}")
    return checkpoint


def _show(changes: dict[str, tuple[Any, Any]], old: str, new: str) -> str:
    return "; ".join(f"{key}: {a!r} ({old}) -> {b!r} ({new})" for key, (a, b) in changes.items())


def plan_resume(run_dir: Path, overrides: Iterable[str] = ()) -> ResumePlan:
    """The configuration to continue ``run_dir`` with, its checkpoint, and the settings changed on purpose.

    Raises ConfigError when config.yaml was edited to differ from the trained configuration (other than as
    ``overrides`` ask) or when an override touches a key outside ``RESUMABLE_KEYS``.
    """
    run_dir = Path(run_dir)
    on_file = load_config(run_dir)
    path = run_dir / "checkpoint.pt"
    checkpoint = load_checkpoint(path) if path.is_file() else None
    trained = checkpoint.get("config") if checkpoint else None
    saved = run_config_from_dict(trained, f"{path}:config") if trained is not None else on_file
    values = config_to_dict(saved)
    for text in overrides:
        values = merge(values, parse_override(text))
    target = config_from_dict(values)
    changed = differences(saved, target)
    refused = [key for key in changed if key not in RESUMABLE_KEYS]
    if refused:
        raise ConfigError(
            f"--resume cannot change {', '.join(refused)} (the run was trained with them); settings that may "
            f"change on resume: {', '.join(RESUMABLE_KEYS)}. Start a new run for anything else"
        )
    edited = differences(saved, on_file)
    if edited and differences(target, on_file):  # the file may show the trained settings, or those --set asks
        sets = [word for key, (a, b) in edited.items() for word in ("--set", f"{key}={json.dumps(b)}")]
        raise ConfigError(
            f"{run_dir / 'config.yaml'} differs from the configuration this run was trained with: "
            f"{_show(edited, 'trained', 'config.yaml')}. A resume continues exactly what was saved: undo the edit, "
            f"or, for settings in {', '.join(RESUMABLE_KEYS)}, continue on purpose with: "
            f"{command_line('oadn-bench', 'train', '--resume', run_dir, *sets)}"
        )
    return ResumePlan(target, checkpoint, changed)


def record_changes(run_dir: Path, plan: ResumePlan) -> None:
    """Put changed settings on record: config.yaml shows them, resume_changes.jsonl says when they began."""
    if not plan.changed:
        return
    epoch = plan.checkpoint["state"]["epoch"] if plan.checkpoint else 0
    row = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "after_epoch": epoch,
           "changes": {key: {"from": old, "to": new} for key, (old, new) in plan.changed.items()}}
    append_jsonl(row, Path(run_dir) / "resume_changes.jsonl")
    save_config(plan.config, Path(run_dir))


def retune_optimizer(optimizer: torch.optim.Optimizer, scheduler: Any, train: TrainConfig, epoch: int) -> None:
    """Apply changed optimiser settings to a restored optimiser and MultiStepLR, as if they had held from the
    start: the learning rate is ``lr * gamma ** (milestones passed by epoch)``."""
    decays = sum(1 for milestone in train.lr_milestones if milestone <= epoch)
    for group in optimizer.param_groups:
        group.update(
            lr=train.lr * train.lr_gamma**decays,
            initial_lr=train.lr,
            momentum=train.momentum,
            weight_decay=train.weight_decay,
        )
    scheduler.base_lrs = [train.lr] * len(optimizer.param_groups)
    scheduler.milestones = Counter(train.lr_milestones)
    scheduler.gamma = train.lr_gamma


def restore_best(run_dir: Path, checkpoint: dict[str, Any]) -> None:
    """Make best.pt agree with the checkpoint after a crash between their writes.

    The checkpoint is written before best.pt; when its last epoch is the best one, its model *is* the best
    weights, so best.pt is rewritten from it (a crash may have left the previous best there)."""
    state = checkpoint["state"]
    if state.get("best_epoch") is not None and state["best_epoch"] == state["epoch"]:
        save_torch(checkpoint["model"], Path(run_dir) / "best.pt")


def selected_weights(run_dir: Path) -> dict[str, Any]:
    """Which epoch best.pt comes from and whether the run finished, for evaluations to record."""
    run_dir = Path(run_dir)
    planned = load_config(run_dir).train.epochs
    metrics = run_dir / "metrics.json"
    if metrics.is_file():
        final = load_metrics(run_dir)
        return {"finished": True, "epoch": final["selected_epoch"], "epochs_done": final["epochs"], "epochs": planned}
    path = run_dir / "checkpoint.pt"
    state = load_checkpoint(path)["state"] if path.is_file() else {"epoch": 0, "best_epoch": None}
    return {"finished": False, "epoch": state.get("best_epoch"), "epochs_done": state["epoch"], "epochs": planned}
