"""Distributed data parallel under torchrun, kept apart from the training loop (torchvision references style).

``oadn-bench train`` runs unchanged under ``torchrun --nproc-per-node N``: torchrun's environment (RANK,
WORLD_SIZE, LOCAL_RANK) starts a process group (NCCL on CUDA, gloo on CPU), each rank trains on its slice of
every global batch (``train.batch_size`` stays the global batch), gradients are averaged by DDP, evaluation is
sharded and gathered, and only rank 0 writes files. On CUDA, batch norm is synchronised across ranks so that
its statistics are those of the global batch, as in a one-process run; torch has no CPU SyncBatchNorm, so on
CPU (gloo) batch-norm statistics are per rank.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


def rank_and_size() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_and_size()[0] == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup() -> None:
    """Join torchrun's process group when launched by it (once; NCCL for CUDA tensors, gloo for CPU ones)."""
    if launched_by_torchrun() and not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=timedelta(minutes=30))


def local_device(device: torch.device) -> torch.device:
    """This rank's device: under torchrun, CUDA device LOCAL_RANK."""
    if device.type != "cuda" or not launched_by_torchrun():
        return device
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
    return device


def local_batch_size(global_batch: int) -> int:
    """This rank's share of ``train.batch_size``; the global batch must split evenly."""
    _, world_size = rank_and_size()
    if global_batch % world_size:
        raise ValueError(f"train.batch_size={global_batch} does not split evenly over {world_size} processes")
    return global_batch // world_size


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The module the training step calls: ``model`` itself, or a DDP wrapper of it (whose weights it shares).

    ``static_graph``: the same parameters take part in every step, but not necessarily all of them (a timm
    backbone's head norm is unused by ``forward_features``); DDP learns which on the first step.
    """
    if rank_and_size()[1] == 1:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, static_graph=True)


def sync_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """Batch-norm statistics over the global batch on CUDA under DDP (torch supports it on GPUs only)."""
    if rank_and_size()[1] > 1 and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def mean_over_ranks(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each value averaged over ranks (one all-reduce); unchanged in a one-process run."""
    _, world_size = rank_and_size()
    if world_size == 1 or not values:
        return values
    names = sorted(values)
    stacked = torch.stack([torch.as_tensor(values[n], dtype=torch.float64) for n in names])
    dist.all_reduce(stacked)
    return {n: v / world_size for n, v in zip(names, stacked)}


def total_over_ranks(count: int) -> int:
    """``count`` summed over ranks (e.g. images seen in an epoch)."""
    if rank_and_size()[1] == 1:
        return count
    total = torch.tensor([count], dtype=torch.int64)
    dist.all_reduce(total)
    return int(total.item())


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank; ``[value]`` in a one-process run."""
    _, world_size = rank_and_size()
    if world_size == 1:
        return [value]
    gathered: list[Any] = [None] * world_size
    dist.all_gather_object(gathered, value)
    return gathered


def gather_predictions(
    indices: list[np.ndarray], branch_scores: dict[str, list[np.ndarray]], bad: list[Any]
) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]], list[Any]]:
    """Every rank's evaluation shards, concatenated in rank order, on every rank."""
    gathered = gather_objects((indices, branch_scores, bad))
    all_indices = [chunk for part in gathered for chunk in part[0]]
    all_scores: dict[str, list[np.ndarray]] = {}
    for part in gathered:
        for name, chunks in part[1].items():
            all_scores.setdefault(name, []).extend(chunks)
    return all_indices, all_scores, [record for part in gathered for record in part[2]]


def barrier() -> None:
    if rank_and_size()[1] > 1:
        dist.barrier()
