"""Where a run computes and in what precision: the device, bf16 autocast and channels_last, one rule for training,
evaluation and bench."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from oadn.models.base import FERModel


def resolve_device(name: str) -> torch.device:
    """``train.device``: auto (CUDA when there is a GPU), or a torch device name that must exist here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name!r} but no CUDA device is available")
    return device


def autocast_for(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when asked; full precision elsewhere."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def fast_layout(model: FERModel, device: torch.device, amp: bool) -> bool:
    """Convert ``model`` to channels_last where inputs will be channels_last (CUDA with amp); says whether."""
    channels_last = device.type == "cuda" and amp
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return channels_last
