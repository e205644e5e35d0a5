"""torch.compile for the training step, one rule for ``train`` and ``bench``: which mode, what gets compiled, and
what a CUDA-graph mode needs at every step."""

from __future__ import annotations

from typing import Callable

import torch

from oadn.config import COMPILE_MODES

#: modes that replay the step as CUDA graphs (on CUDA), whose outputs each replay overwrites
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def compile_mode(setting: bool | str, device: torch.device) -> str | None:
    """``train.compile`` -> the torch.compile mode to use, None for eager. "auto" is the default mode on CUDA and
    eager elsewhere (on a CPU the compilation time is not won back); true is the default mode everywhere."""
    if setting == "auto":
        return "default" if device.type == "cuda" else None
    if isinstance(setting, bool):
        return "default" if setting else None
    if setting not in COMPILE_MODES:
        raise ValueError(f"train.compile must be true, false, auto or a mode ({', '.join(COMPILE_MODES)}), "
                         f"got {setting!r}")
    return setting


def compile_step(forward: Callable, loss: Callable, mode: str | None) -> tuple[Callable, Callable]:
    """The model's forward and, separately, its loss, compiled in ``mode`` (unchanged for None). Left eager, the
    loss's many small operations cost more host time than device time."""
    if mode is None:
        return forward, loss
    return torch.compile(forward, mode=mode), torch.compile(loss, mode=mode)


def step_begins(mode: str | None) -> None:
    """Call before each training step: under a CUDA-graph mode it tells the graphs that the last step's outputs
    are no longer read (else a replay could overwrite tensors still in use, and torch refuses)."""
    if mode in CUDA_GRAPH_MODES:
        torch.compiler.cudagraph_mark_step_begin()
