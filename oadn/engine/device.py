"""Where a run computes and in what precision: the device, bf16 autocast and channels_last, one rule for training,
evaluation and bench.

On CUDA ``train.amp`` turns on bf16 autocast and channels_last. On a CPU ``train.cpu_amp`` turns on
channels_last, and bf16 autocast where the CPU computes bf16 natively (AVX512-BF16 or AMX): there they cut a
small CNN's training step to about a third (docs/performance.md has the figures); on other CPUs bf16 would be
emulated, so they keep fp32. Either changes a run's numbers in their last digits, which is why both are settings.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from oadn.models.base import FERModel

#: CPU flags (Linux /proc/cpuinfo) of native bf16 arithmetic
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def resolve_device(name: str) -> torch.device:
    """``train.device``: auto (CUDA when there is a GPU), or a torch device name that must exist here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name!r} but no CUDA device is available")
    return device


@lru_cache(maxsize=None)
def cpu_computes_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has native bf16 arithmetic (read from ``cpuinfo``'s flags; False where it cannot be read)."""
    try:
        flags = {flag for line in cpuinfo.read_text().splitlines() if line.startswith("flags")
                 for flag in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


@dataclass(frozen=True)
class Precision:
    """How a run computes on its device: the autocast dtype (None: full precision) and the memory layout."""

    autocast: torch.dtype | None = None
    channels_last: bool = False

    def describe(self) -> str:
        parts = ["bf16" if self.autocast is torch.bfloat16 else "fp32"]
        return " + ".join(parts + (["channels_last"] if self.channels_last else []))


def precision_for(device: torch.device, amp: bool, cpu_amp: bool) -> Precision:
    """``train.amp`` on CUDA, ``train.cpu_amp`` on a CPU (see the module docstring)."""
    if device.type == "cuda":
        return Precision(torch.bfloat16, True) if amp else Precision()
    if device.type == "cpu" and cpu_amp:
        return Precision(torch.bfloat16 if cpu_computes_bf16() else None, True)
    return Precision()


def autocast_for(device: torch.device, precision: Precision):
    """The autocast context of ``precision`` on ``device`` (none for full precision)."""
    if precision.autocast is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=precision.autocast)


def fast_layout(model: FERModel, precision: Precision) -> bool:
    """Convert ``model`` to channels_last where ``precision`` asks for it; says whether."""
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)
    return precision.channels_last
