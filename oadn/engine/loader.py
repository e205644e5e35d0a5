"""From a FaceSource to device batches: a batch is one read of the source (a slice of its arrays), moved to the
device as stored and resized, flipped and normalised there; deterministic shuffling; bad-image records.

Every random choice (sample order, flips, a source's own augmentation such as occluders drawn anew each epoch) is
a pure function of (seed, epoch, face), so an interrupted run that
resumes from an epoch-end checkpoint replays exactly the batches an uninterrupted run would see. Training batches
are lists of ``(index, epoch)`` pairs: the epoch travels with each index, so one stream of batches runs across
epoch ends (workers are never told about a new epoch), and the same items come out whichever process reads them.
Under distributed training each rank takes its slice of every global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from oadn.common.seeding import rng_for, uniform_for
from oadn.config import ON_BAD_IMAGE
from oadn.data.aligned_frame import resize_faces
from oadn.data.faces import BadImageError, FaceBatch, FaceSource
from oadn.data.ibug68 import FLIP_PERMUTATION

TARGET_MODES = ("hard", "soft", "sample")


class FaceDataset(Dataset):
    """Batches of tensors from a FaceSource, read a whole batch at a time (``__getitems__``): one slice of the
    source's arrays per batch, no Python per face.

    A training view marks each face for a horizontal flip with probability 1/2 (``flip``), applied on the device
    to pixels and landmarks together (:func:`to_device`). ``target_mode`` says how a face's soft target is used
    for training: "soft" passes the distribution to a soft cross-entropy, "sample" draws a label from it anew
    each epoch (FERPlus' probabilistic label drawing), "hard" ignores it. Evaluation always scores the label.
    Every draw is a function of (seed, epoch, face): :func:`oadn.common.seeding.uniform_for`.
    """

    def __init__(
        self, source: FaceSource, *, hflip: bool, seed: int, on_bad_image: str = "skip", target_mode: str = "hard"
    ):
        if on_bad_image not in ON_BAD_IMAGE:
            raise ValueError(f"data.on_bad_image must be {' or '.join(map(repr, ON_BAD_IMAGE))}, got {on_bad_image!r}")
        if target_mode not in TARGET_MODES:
            raise ValueError(f"target mode must be one of {TARGET_MODES}, got {target_mode!r}")
        self.source = source
        self.hflip = hflip
        self.seed = seed
        self.on_bad_image = on_bad_image
        self.target_mode = target_mode

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return self.__getitems__([key])

    def __getitems__(self, keys: list) -> dict[str, Any]:
        """The batch of ``keys``: indices (epoch 0, as evaluation reads) or ``(index, epoch)`` pairs of one epoch
        (as training samples)."""
        pairs = [(int(k[0]), int(k[1])) if isinstance(k, (tuple, list)) else (int(k), 0) for k in keys]
        epoch = pairs[0][1] if pairs else 0
        return self.tensors(self.source.read(np.array([i for i, _ in pairs], dtype=np.int64), epoch), epoch)

    def tensors(self, faces: FaceBatch, epoch: int) -> dict[str, Any]:
        """The batch as the training loop takes it (see :func:`to_device`)."""
        landmarks = torch.from_numpy(np.ascontiguousarray(faces.landmarks, dtype=np.float32))
        batch: dict[str, Any] = {
            "bad": faces.bad, "size": len(faces), "frame": faces.frame,
            "image": torch.from_numpy(np.ascontiguousarray(faces.images)).permute(0, 3, 1, 2).contiguous(),
            "landmarks": landmarks,
            # faces with NaN/inf landmarks (named if the loss turns NaN), counted here, in the workers
            "nan_faces": int((~torch.isfinite(landmarks)).flatten(1).any(1).sum()),
            "label": torch.from_numpy(faces.labels.astype(np.int64)),
            "index": torch.from_numpy(faces.indices.astype(np.int64)),
            # the donor class of a face with another face's region swapped in; -1 for the others
            "donor": torch.from_numpy(faces.donors if faces.donors is not None else np.full(len(faces), -1)),
        }
        if self.hflip:
            batch["flip"] = torch.from_numpy(uniform_for(self.seed, epoch, "flip", faces.keys)[:, 0] < 0.5)
        if faces.soft_targets is not None and self.target_mode == "soft":
            batch["soft_target"] = torch.from_numpy(faces.soft_targets.astype(np.float32))
        elif faces.soft_targets is not None and self.target_mode == "sample":
            batch["train_label"] = torch.from_numpy(sampled_labels(faces.soft_targets, uniform_for(
                self.seed, epoch, "label", faces.keys)[:, 0]))
        return batch


def sampled_labels(probabilities: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """A label per row drawn from its distribution (B x classes, rows need not sum to 1) by inverting the
    cumulative distribution at ``draws`` (B uniforms)."""
    cumulative = np.cumsum(probabilities, axis=1)
    picked = (cumulative < (draws * cumulative[:, -1])[:, None]).sum(axis=1)
    return np.minimum(picked, probabilities.shape[1] - 1).astype(np.int64)


def _as_is(batch: dict[str, Any]) -> dict[str, Any]:
    """The DataLoader's collate step: :meth:`FaceDataset.__getitems__` already made the batch."""
    return batch


class EpochOrder:
    """Each epoch's training items: ``(index, epoch)`` pairs in a permutation (or class-balanced draw with
    replacement) seeded by (seed, epoch).

    With ``world_size`` > 1 the order is cut into global batches of ``world_size * batch_size`` and rank ``r``
    takes slice ``r`` of each, so the ranks together see exactly the batches one process would see with the
    global batch size (the incomplete last global batch is dropped, as single-process training drops it).
    """

    def __init__(
        self,
        size: int,
        seed: int,
        weights: np.ndarray | None = None,
        *,
        rank: int = 0,
        world_size: int = 1,
        batch_size: int = 1,
    ):
        if world_size > 1 and size < world_size * batch_size:
            raise ValueError(f"{size} training items cannot fill one global batch of {world_size} x {batch_size}")
        self.size = size
        self.seed = seed
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.rank, self.world_size, self.batch_size = rank, world_size, batch_size

    def _order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(int(rng_for(self.seed, epoch, "order").integers(0, 2**63 - 1)))
        if self.weights is None:
            return torch.randperm(self.size, generator=generator).tolist()
        return torch.multinomial(self.weights, self.size, replacement=True, generator=generator).tolist()

    def _mine(self, order: list[int]) -> list[int]:
        if self.world_size == 1:
            return order
        step, width = self.world_size * self.batch_size, self.batch_size
        start = self.rank * width
        return [i for b in range(0, len(order) - step + 1, step) for i in order[b + start : b + start + width]]

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.size
        return self.size // (self.world_size * self.batch_size) * self.batch_size

    def items(self, epoch: int) -> list[tuple[int, int]]:
        return [(index, epoch) for index in self._mine(self._order(epoch))]


class EpochBatches(Sampler[list[tuple[int, int]]]):
    """Training batches epoch after epoch, without end, from ``start_epoch``.

    One stream across epoch ends lets the loader's workers prepare the next epoch's first batches while an epoch
    ends and validation runs; restarting the workers' iteration every epoch left the device idle for as long as
    one worker takes to build a batch. An epoch's last partial batch is dropped unless it is the epoch's only one.
    """

    def __init__(self, order: EpochOrder, batch_size: int):
        self.order = order
        self.batch_size = batch_size
        self.start_epoch = 0

    def per_epoch(self) -> int:
        return max(1, len(self.order) // self.batch_size) if len(self.order) else 0

    def epoch(self, epoch: int) -> list[list[tuple[int, int]]]:
        items = self.order.items(epoch)
        return [items[b * self.batch_size : (b + 1) * self.batch_size] for b in range(self.per_epoch())]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch = self.start_epoch
        while True:
            yield from self.epoch(epoch)
            epoch += 1


class ShardSampler(Sampler[int]):
    """In-order evaluation indices ``rank, rank + world_size, ...``: each rank predicts its share once."""

    def __init__(self, size: int, rank: int = 0, world_size: int = 1):
        self.indices = range(rank, size, world_size)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


def _checked(batch: dict[str, Any], dataset: FaceDataset) -> dict[str, Any]:
    """The batch; its first unreadable image raised as BadImageError when data.on_bad_image is "fail" (raised
    inside a worker, the error would reach the main process as a bare RuntimeError)."""
    if batch["bad"] and dataset.on_bad_image == "fail":
        raise BadImageError(*batch["bad"][0])
    return batch


@dataclass
class Loader:
    """Evaluation batches, in order; its workers persist from one pass to the next (validation every epoch)."""

    dataset: FaceDataset
    loader: DataLoader

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.loader:
            yield _checked(batch, self.dataset)

    def __len__(self) -> int:
        return len(self.loader)


class TrainingLoader:
    """Training batches by epoch, read from one stream of :class:`EpochBatches` that runs ahead across epoch
    ends. Asking for the epoch after the last one read whole continues the stream; any other epoch (a resumed
    run, an epoch left unfinished) starts a new one there."""

    def __init__(self, dataset: FaceDataset, loader: DataLoader, batches: EpochBatches):
        self.dataset, self.loader, self.batches = dataset, loader, batches
        self._stream: Iterator[dict[str, Any]] | None = None
        self._next_epoch: int | None = None

    def epoch(self, epoch: int) -> Iterator[dict[str, Any]]:
        if self._stream is None or epoch != self._next_epoch:
            self.close()
            self.batches.start_epoch = epoch
            self._stream = iter(self.loader)
        self._next_epoch = None  # until this epoch has been read whole
        for _ in range(len(self)):
            yield _checked(next(self._stream), self.dataset)
        self._next_epoch = epoch + 1

    def close(self) -> None:
        """Stop the workers (and drop the batches they prepared ahead)."""
        self._stream = None
        self._next_epoch = None

    def __len__(self) -> int:
        return self.batches.per_epoch()


def resolve_workers(value: int | str) -> int:
    """``data.num_workers``: a count, or "auto": with a GPU, this process's share of the usable cores less one
    (for the training process itself), at most 12; without one, 0, because the training step's threads already
    use every core (one worker slowed a 2-core machine's loop; docs/performance.md)."""
    if value == "auto":
        if not torch.cuda.is_available():
            return 0
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(0, min(12, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1")) - 1))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"data.num_workers must be a count >= 0 or 'auto', got {value!r}")
    return value


def make_loader(
    source: FaceSource,
    *,
    batch_size: int,
    train: bool,
    seed: int,
    hflip: bool = True,
    num_workers: int | str = 0,
    on_bad_image: str = "skip",
    class_weights: np.ndarray | None = None,
    target_mode: str = "hard",
    rank: int = 0,
    world_size: int = 1,
) -> TrainingLoader | Loader:
    """A training loader (shuffled, flipped, each epoch's last partial batch dropped) or an evaluation loader
    (in order).

    ``batch_size`` is per process; with ``world_size`` > 1 a training loader yields this rank's slice of each
    global batch and an evaluation loader this rank's shard of the split. On CUDA, batches come in pinned memory,
    pinned by the DataLoader's own thread (pinning on the training thread slowed the loop; docs/performance.md).
    """
    dataset = FaceDataset(
        source, hflip=train and hflip, seed=seed, on_bad_image=on_bad_image,
        target_mode=target_mode if train else "hard"
    )
    workers = resolve_workers(num_workers)
    if workers > 0 and len(source):  # what a source builds on first use (stores, occluder sprites) is built once,
        dataset.source.read(np.arange(min(len(source), batch_size), dtype=np.int64))  # here, not in each worker
    common = dict(num_workers=workers, collate_fn=_as_is, pin_memory=torch.cuda.is_available(),
                  prefetch_factor=4 if workers > 0 else None)
    if train:
        order = EpochOrder(len(source), seed, class_weights, rank=rank, world_size=world_size, batch_size=batch_size)
        batches = EpochBatches(order, batch_size)
        return TrainingLoader(dataset, DataLoader(dataset, batch_sampler=batches, **common), batches)
    sampler = ShardSampler(len(source), rank, world_size)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, persistent_workers=workers > 0, **common)
    return Loader(dataset, loader)


@lru_cache(maxsize=None)
def _normalisation(
    device: torch.device, mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std as 1 x 3 x 1 x 1 tensors, copied to ``device`` once rather than every step."""
    return (
        torch.tensor(mean, device=device).view(1, -1, 1, 1),
        torch.tensor(std, device=device).view(1, -1, 1, 1),
    )


@lru_cache(maxsize=None)
def _flip_permutation(device: torch.device) -> torch.Tensor:
    return torch.as_tensor(FLIP_PERMUTATION, dtype=torch.long, device=device)


def flipped(images: torch.Tensor, landmarks: torch.Tensor, flip: torch.Tensor,
            frame: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The faces marked in ``flip`` mirrored, pixels and landmarks together: x -> frame - 1 - x and the left/right
    point identities swapped (a flip commutes with the resize of stored faces to the frame)."""
    mirrored = landmarks[:, _flip_permutation(landmarks.device)].clone()
    mirrored[..., 0] = (frame - 1) - mirrored[..., 0]
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    return images, torch.where(flip[:, None, None], mirrored, landmarks)


def to_device(
    batch: dict[str, Any],
    device: torch.device,
    channels_last: bool,
    normalisation: tuple[Sequence[float], Sequence[float]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 faces as stored -> float on ``device`` at the model's frame, flipped where the batch says,
    normalised with the backbone's (mean, std); all on the device, batched.

    Copies are non-blocking (the loader pins memory on CUDA), so the host never waits for a transfer.
    """
    images = batch["image"].to(device, non_blocking=True)
    landmarks = batch["landmarks"].to(device, non_blocking=True)
    if "flip" in batch:
        images, landmarks = flipped(images, landmarks, batch["flip"].to(device, non_blocking=True), batch["frame"])
    images = resize_faces(images, batch["frame"])
    mean, std = _normalisation(device, tuple(normalisation[0]), tuple(normalisation[1]))
    images = (images - mean) / std
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, landmarks


def training_targets(batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    """What the loss is computed against: soft targets, a label drawn this epoch, or the label; non-blocking."""
    return batch.get("soft_target", batch.get("train_label", batch["label"])).to(device, non_blocking=True)
