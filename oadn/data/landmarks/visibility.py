"""A small network that scores, per landmark, whether the face is visible there, from pixels and positions.

Why: offline backends (dlib) give every point 1.0, so OADN's threshold never drops anything on real faces.
The network sees the aligned face at a small size; a four-block CNN gives a stride-4 feature map, which is
sampled (``grid_sample``) at each of the 68 landmarks; a learned per-point embedding is added, so the head can
learn what each point should look like, and a shared MLP gives one logit per point. Saved as one file with the
training settings (``VisibilityNet.save`` / ``VisibilityScorer.load``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from oadn.common.files import load_torch, save_torch
from oadn.data.aligned_frame import rescale_points
from oadn.data.ibug68 import NUM_LANDMARKS

#: the visibility net's own input normalisation (ImageNet statistics; fixed, since saved nets were trained with it)
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def _block(cin: int, cout: int, pool: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                               nn.ReLU(inplace=True)]
    return layers + ([nn.MaxPool2d(2)] if pool else [])


class VisibilityNet(nn.Module):
    """(B x 3 x S x S normalised images, B x 68 x 2 pixel positions) -> B x 68 visibility logits."""

    def __init__(self, width: int = 32, embed: int = 16):
        super().__init__()
        self.width, self.embed = width, embed
        self.features = nn.Sequential(*_block(3, width // 2, True), *_block(width // 2, width, True),
                                      *_block(width, 2 * width, False), *_block(2 * width, 2 * width, False))
        self.point_embedding = nn.Parameter(torch.zeros(NUM_LANDMARKS, embed))
        self.context = nn.Linear(2 * width, embed)
        self.head = nn.Sequential(nn.Linear(2 * width + 2 * embed, 64), nn.ReLU(inplace=True), nn.Linear(64, 1))

    def forward(self, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        fmap = self.features(images)
        size = images.shape[-1]
        grid = ((points + 0.5) / size * 2 - 1)[:, :, None, :]  # pixel centres -> [-1, 1], align_corners=False
        local = F.grid_sample(fmap, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[..., 0]
        local = local.transpose(1, 2)  # B x 68 x C
        context = self.context(fmap.mean(dim=(2, 3)))[:, None].expand(-1, NUM_LANDMARKS, -1)
        identity = self.point_embedding[None].expand(len(images), -1, -1)
        return self.head(torch.cat([local, identity, context], dim=-1))[..., 0]


def normalise(images: np.ndarray) -> torch.Tensor:
    """B x S x S x 3 uint8 -> B x 3 x S x S float, normalised as the training loader does."""
    pixels = np.require(images, requirements=["C", "W"])  # a copy where read-only (a memoised test face)
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def resize_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An aligned face and its points moved to ``size`` x ``size`` (pixel centres kept consistent)."""
    points = rescale_points(np.asarray(landmarks)[:, :2], image.shape[0], size)
    if image.shape[0] == size:
        return image, points
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR)), points


class VisibilityScorer:
    """A trained :class:`VisibilityNet` with its settings; called on one face, returns the landmarks re-scored."""

    def __init__(self, net: VisibilityNet, settings: dict[str, Any]):
        self.net = net.eval()
        self.settings = settings
        self.image_size = int(settings["image_size"])

    @classmethod
    def load(cls, path: Path) -> "VisibilityScorer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no visibility model (make one with oadn-bench fit-visibility)")
        saved = load_torch(path)
        if not isinstance(saved, dict) or saved.get("format") != "oadn-visibility-1":
            raise ValueError(f"{path}: not a visibility model file (expected format oadn-visibility-1)")
        settings = saved["settings"]
        net = VisibilityNet(width=settings["width"], embed=settings["embed"])
        net.load_state_dict(saved["model"])
        return cls(net, settings)

    @torch.no_grad()
    def probabilities(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """B x 68 visibility probabilities for B faces (uint8 B x H x W x 3) and their B x 68 x (2|3) points."""
        faces, points = zip(*(resize_face(i, p, self.image_size) for i, p in zip(images, landmarks)))
        logits = self.net(normalise(np.stack(faces)), torch.from_numpy(np.stack(points)))
        return torch.sigmoid(logits).numpy()

    def rescored(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """B x 68 x 3 float32 landmarks of B faces with their scores replaced by the visibility probabilities."""
        out = np.array(landmarks, dtype=np.float32)
        out[..., 2] = self.probabilities(images, landmarks)
        return out

    def __call__(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.rescored(image[None], landmarks[None])[0]


def save_model(net: VisibilityNet, settings: dict[str, Any], path: Path) -> None:
    """One file: format tag, settings (training data, sizes, held-out kinds, metrics) and weights."""
    save_torch({"format": "oadn-visibility-1", "settings": settings, "model": net.state_dict()}, Path(path))
