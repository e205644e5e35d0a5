"""Training augmentations beyond the paper's flip, applied to the normalised batch on the device: a random shift
and a random resized crop that move the landmarks with the pixels (one affine warp per face), and random erasing
(timm's RandomErasing, itself an occlusion augmentation: a rectangle of per-pixel noise).

Every draw is a pure function of (seed, epoch, step) through the project's one seeding rule
(:func:`oadn.common.seeding.rng_for`), so a resumed run sees the same augmented batches; the global random
states are left as they were. Off by default (the paper's recipe).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from oadn.common.seeding import rng_for
from oadn.config import RunConfig


class BatchAugment:
    """``(images, landmarks, epoch, step) -> (images, landmarks)`` for B x 3 x S x S normalised images and
    B x 68 x 3 landmarks in pixel-index coordinates (scores untouched)."""

    def __init__(self, shift: float, crop_area: float, erasing: float, seed: int, device: torch.device):
        self.shift = shift
        self.crop_area = crop_area
        self.seed = seed
        self.device = device
        self.erase = None
        if erasing > 0:
            from timm.data.random_erasing import RandomErasing

            self.erase = RandomErasing(probability=erasing, mode="pixel", device=device)

    def __call__(self, images: torch.Tensor, landmarks: torch.Tensor, epoch: int,
                 step: int) -> tuple[torch.Tensor, torch.Tensor]:
        seed = int(rng_for(self.seed, epoch, "augment", step).integers(0, 2**63 - 1))
        generator = torch.Generator().manual_seed(seed)
        if self.shift > 0 or self.crop_area < 1:
            images, landmarks = self.warp(images, landmarks, generator)
        if self.erase is not None:
            images = self.erased(images, seed)
        return images, landmarks

    def warp(self, images: torch.Tensor, landmarks: torch.Tensor,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop a square of side ``a`` (a^2 uniform in [crop_area, 1]) at a uniform position, zoom it to the input
        and shift the result by up to ``shift`` of the side; bilinear, zeros (the mean colour) outside."""
        batch, size = images.shape[0], images.shape[-1]
        side = torch.sqrt(self.crop_area + (1 - self.crop_area) * torch.rand(batch, generator=generator))
        centre = (1 - side)[:, None] * (2 * torch.rand(batch, 2, generator=generator) - 1)  # crop inside [-1, 1]
        moved = 2 * self.shift * (2 * torch.rand(batch, 2, generator=generator) - 1)  # normalised units
        offset = centre - moved * side[:, None]
        theta = torch.zeros(batch, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = side
        theta[:, :, 2] = offset
        theta = theta.to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # a point at input pixel p (normalised n = (2p + 1) / S - 1) lands where side * n_out + offset = n
        normalised = (2 * landmarks[..., :2].float() + 1) / size - 1
        out = (normalised - offset[:, None].to(normalised.device)) / side[:, None, None].to(normalised.device)
        moved_points = torch.cat([((out + 1) * size - 1) / 2, landmarks[..., 2:].float()], dim=-1)
        if images.is_contiguous(memory_format=torch.channels_last):
            warped = warped.contiguous(memory_format=torch.channels_last)
        return warped, moved_points.to(landmarks.dtype)

    def erased(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """timm's RandomErasing, its draws (Python's random, torch's generator) seeded for this step only."""
        state = random.getstate()
        devices = [images.device] if images.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                random.seed(seed)
                torch.manual_seed(seed)
                return self.erase(images.clone())
        finally:
            random.setstate(state)


def make_augment(config: RunConfig, device: torch.device) -> BatchAugment | None:
    """The run's augmentation, or None when every one is off (the paper's recipe: flips only)."""
    data = config.data
    if data.random_shift == 0 and data.random_crop_area == 1 and data.random_erasing == 0:
        return None
    return BatchAugment(data.random_shift, data.random_crop_area, data.random_erasing, config.train.seed, device)
