"""The optimiser and the learning-rate schedule of a run: the paper's recipe (SGD, step decay) by default, or the
pieces a strong-baseline recipe uses, taken from timm where it has them (its optimiser factory for AdamW, its
cosine scheduler) and from torch otherwise (one-cycle).

Every schedule is stepped once per epoch, after it: the learning rate of epoch e is the schedule's value at e.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from oadn.config import TrainConfig


def make_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """SGD exactly as the paper (momentum, weight decay on every parameter), or timm's AdamW (no weight decay on
    biases and norm weights, timm's default for it)."""
    if train.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=train.lr, momentum=train.momentum,
                               weight_decay=train.weight_decay)
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(model, opt=train.optimizer, lr=train.lr, weight_decay=train.weight_decay)


class EpochSchedule:
    """One interface over torch's and timm's schedulers: ``step()`` after each epoch, and a state to resume."""

    def __init__(self, scheduler: Any, timm_style: bool):
        self.scheduler = scheduler
        self.timm_style = timm_style
        self.epochs_done = 0

    def step(self) -> None:
        self.epochs_done += 1
        if self.timm_style:
            self.scheduler.step(self.epochs_done)  # timm's schedulers take the epoch that starts next
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict(), "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "epochs_done" not in state:  # a checkpoint written before this wrapper: MultiStepLR's own state
            self.scheduler.load_state_dict(state)
            self.epochs_done = int(state.get("last_epoch", 0))
            return
        self.scheduler.load_state_dict(state["scheduler"])
        self.epochs_done = int(state["epochs_done"])


def make_schedule(optimizer: torch.optim.Optimizer, train: TrainConfig) -> EpochSchedule:
    """step: MultiStepLR at ``lr_milestones``; cosine: timm's CosineLRScheduler to 0 after ``warmup_epochs`` of
    linear warm-up from lr / 100; onecycle: torch's OneCycleLR, rising over the warm-up epochs (at least one)
    and annealing (cosine) to lr / 10^4 by the last."""
    if train.schedule == "step":
        return EpochSchedule(torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=train.lr_milestones,
                                                                  gamma=train.lr_gamma), timm_style=False)
    if train.schedule == "cosine":
        from timm.scheduler import CosineLRScheduler

        scheduler = CosineLRScheduler(optimizer, t_initial=train.epochs - train.warmup_epochs, lr_min=0.0,
                                      warmup_t=train.warmup_epochs, warmup_lr_init=train.lr / 100,
                                      warmup_prefix=True)
        return EpochSchedule(scheduler, timm_style=True)
    # one step per epoch, the last one after training (unused); the peak is at step pct_start * total_steps - 1,
    # i.e. at the first epoch after the warm-up
    total = train.epochs + 1
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=train.lr, total_steps=total, pct_start=(max(train.warmup_epochs, 1) + 1) / total,
        anneal_strategy="cos", cycle_momentum=False, div_factor=25.0, final_div_factor=400.0,
    )
    return EpochSchedule(scheduler, timm_style=False)
