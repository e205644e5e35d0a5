"""From a FaceSource to device batches: deterministic shuffling, a flip that mirrors landmarks, bad-image records.

Every random choice (sample order, flips, a source's own augmentation such as occluders drawn anew each epoch) is
a pure function of (seed, epoch, index), so an interrupted run that
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

from oadn.config import ON_BAD_IMAGE
from oadn.data.faces import BadImageError, FaceSource, read_compact
from oadn.data.geometry import flip_landmarks

TARGET_MODES = ("hard", "soft", "sample")


class FaceDataset(Dataset):
    """Tensors from a FaceSource; a training view flips image and landmarks together with probability 1/2.

    target_mode says how a record's ``soft_target`` is used for training: "soft" passes the distribution to a
    soft cross-entropy, "sample" draws a one-hot label from it anew each epoch (FERPlus' probabilistic label
    drawing), "hard" ignores it. Evaluation always scores the record's ``label``.
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
        """Item ``key`` = index (epoch 0, as evaluation reads) or ``(index, epoch)`` (as training samples)."""
        index, epoch = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), 0)
        try:
            record = read_compact(self.source, index, epoch)
        except BadImageError as error:  # raised (data.on_bad_image=fail) by the Loader, in the main process
            return {"bad": (error.image_id, error.path, error.reason)}
        landmarks = record.landmarks
        image = torch.from_numpy(np.require(record.image, dtype=np.uint8, requirements=["C", "W"])).permute(2, 0, 1)
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.hflip and rng.random() < 0.5:
            image = image.flip(2)  # torch's flip, far faster than numpy's reversed copy (docs/performance.md)
            landmarks = flip_landmarks(landmarks, record.frame or image.shape[2])  # a resize commutes with the flip
        item = {
            "image": image,
            "landmarks": torch.from_numpy(np.asarray(landmarks, dtype=np.float32)),
            "label": int(record.label),
            "index": index,
        }
        if record.frame is not None:
            item["frame"] = record.frame
        if record.donor_label is not None:
            item["donor"] = int(record.donor_label)
        if record.soft_target is not None and self.target_mode == "soft":
            item["soft_target"] = torch.as_tensor(record.soft_target, dtype=torch.float32)
        elif record.soft_target is not None and self.target_mode == "sample":
            probabilities = np.asarray(record.soft_target, dtype=np.float64)
            item["train_label"] = int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))
        return item


def collate_faces(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack good items; pass bad-image records through under ``"bad"`` so the caller can log them."""
    bad = [item["bad"] for item in items if "bad" in item]
    good = [item for item in items if "bad" not in item]
    batch: dict[str, Any] = {"bad": bad, "size": len(good)}
    if not good:
        return batch
    batch["image"] = torch.stack([item["image"] for item in good])
    batch["landmarks"] = torch.stack([item["landmarks"] for item in good])
    # faces with NaN/inf landmarks (named if the loss turns NaN), counted here, in the workers, not by the step
    batch["nan_faces"] = int((~torch.isfinite(batch["landmarks"])).flatten(1).any(1).sum())
    batch["label"] = torch.tensor([item["label"] for item in good], dtype=torch.long)
    batch["index"] = torch.tensor([item["index"] for item in good], dtype=torch.long)
    if "frame" in good[0]:
        batch["frame"] = good[0]["frame"]
    # the donor class of a face with another face's region swapped in; -1 for the others
    batch["donor"] = torch.tensor([item.get("donor", -1) for item in good], dtype=torch.long)
    if all("soft_target" in item for item in good):
        batch["soft_target"] = torch.stack([item["soft_target"] for item in good])
    if all("train_label" in item for item in good):
        batch["train_label"] = torch.tensor([item["train_label"] for item in good], dtype=torch.long)
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
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
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
    common = dict(num_workers=workers, collate_fn=collate_faces, pin_memory=torch.cuda.is_available(),
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


def device_images(images: torch.Tensor, frame: int | None) -> torch.Tensor:
    """uint8 B x C x S x S faces already on their device -> float B x 3 x N x N in [0, 1], N = ``frame`` (or S).

    Compact faces (see :func:`oadn.data.faces.read_compact`) are resized here, bilinear with Pillow's
    antialiasing and pixel-centre alignment (within one grey level of Pillow's resize), and grey becomes RGB.
    """
    faces = images.float()
    if frame is not None and faces.shape[-1] != frame:
        faces = torch.nn.functional.interpolate(faces, size=(frame, frame), mode="bilinear", align_corners=False,
                                                antialias=True)
    faces = faces.div_(255)
    return faces.expand(-1, 3, -1, -1) if faces.shape[1] == 1 else faces


def to_device(
    batch: dict[str, Any],
    device: torch.device,
    channels_last: bool,
    normalisation: tuple[Sequence[float], Sequence[float]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images -> float on ``device`` normalised with the backbone's (mean, std), done on the device
    (with the resize of compact faces).

    Copies are non-blocking (the loader pins memory on CUDA), so the host never waits for a transfer.
    """
    images = device_images(batch["image"].to(device, non_blocking=True), batch.get("frame"))
    mean, std = _normalisation(device, tuple(normalisation[0]), tuple(normalisation[1]))
    images = (images - mean) / std
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, batch["landmarks"].to(device, non_blocking=True)


def training_targets(batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    """What the loss is computed against: soft targets, a label drawn this epoch, or the label; non-blocking."""
    return batch.get("soft_target", batch.get("train_label", batch["label"])).to(device, non_blocking=True)
