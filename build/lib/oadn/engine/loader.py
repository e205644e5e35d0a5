"""From a FaceSource to device batches: deterministic shuffling, a flip that mirrors landmarks, bad-image records.

Every random choice (sample order, flips) is a pure function of (seed, epoch, index), so an interrupted run that
resumes from an epoch-end checkpoint replays exactly the batches an uninterrupted run would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from oadn.data.faces import BadImageError, FaceSource
from oadn.data.geometry import flip_landmarks

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


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
        if on_bad_image not in ("skip", "fail"):
            raise ValueError(f"data.on_bad_image must be 'skip' or 'fail', got {on_bad_image!r}")
        if target_mode not in TARGET_MODES:
            raise ValueError(f"target mode must be one of {TARGET_MODES}, got {target_mode!r}")
        self.source = source
        self.hflip = hflip
        self.seed = seed
        self.on_bad_image = on_bad_image
        self.target_mode = target_mode
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            record = self.source[index]
        except BadImageError as error:
            if self.on_bad_image == "fail":
                raise
            return {"bad": (error.image_id, error.path, error.reason)}
        image, landmarks = record.image, record.landmarks
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.hflip and rng.random() < 0.5:
            image = image[:, ::-1]
            landmarks = flip_landmarks(landmarks, image.shape[1])
        item = {
            "image": torch.from_numpy(np.require(image, dtype=np.uint8, requirements=["C", "W"])).permute(2, 0, 1),
            "landmarks": torch.from_numpy(np.asarray(landmarks, dtype=np.float32)),
            "label": int(record.label),
            "index": index,
        }
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
    batch["label"] = torch.tensor([item["label"] for item in good], dtype=torch.long)
    batch["index"] = torch.tensor([item["index"] for item in good], dtype=torch.long)
    if all("soft_target" in item for item in good):
        batch["soft_target"] = torch.stack([item["soft_target"] for item in good])
    if all("train_label" in item for item in good):
        batch["train_label"] = torch.tensor([item["train_label"] for item in good], dtype=torch.long)
    return batch


class EpochSampler(Sampler[int]):
    """A permutation (or class-balanced draw with replacement) seeded by (seed, epoch)."""

    def __init__(self, size: int, seed: int, weights: np.ndarray | None = None):
        self.size = size
        self.seed = seed
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is None:
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.multinomial(self.weights, self.size, replacement=True, generator=generator)
        return iter(order.tolist())


@dataclass
class Loader:
    """A DataLoader plus the epoch-dependent pieces it must be told about."""

    dataset: FaceDataset
    loader: DataLoader
    sampler: EpochSampler | None

    def set_epoch(self, epoch: int) -> None:
        self.dataset.epoch = epoch
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)


def make_loader(
    source: FaceSource,
    *,
    batch_size: int,
    train: bool,
    seed: int,
    hflip: bool = True,
    num_workers: int = 0,
    on_bad_image: str = "skip",
    class_weights: np.ndarray | None = None,
    target_mode: str = "hard",
) -> Loader:
    """A training loader (shuffled, flipped, last partial batch dropped) or an evaluation loader (in order)."""
    dataset = FaceDataset(
        source, hflip=train and hflip, seed=seed, on_bad_image=on_bad_image, target_mode=target_mode if train else "hard"
    )
    sampler = EpochSampler(len(source), seed, class_weights) if train else None
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_faces,
        drop_last=train and len(source) > batch_size,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    return Loader(dataset, loader, sampler)


@lru_cache(maxsize=None)
def _normalisation(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std as 1 x 3 x 1 x 1 tensors, copied to ``device`` once rather than every step."""
    mean = torch.tensor(IMAGE_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, device=device).view(1, 3, 1, 1)
    return mean, std


def to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images -> normalised float on ``device`` (normalisation happens on the device, not the host)."""
    images = batch["image"].to(device, non_blocking=True).float().div_(255)
    mean, std = _normalisation(device)
    images = (images - mean) / std
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, batch["landmarks"].to(device, non_blocking=True)
