"""OADN (Ding, Zhou, Chellappa 2020): a landmark-guided attention branch and a facial region branch.

LAB: one Gaussian map per kept interest point (score >= T) at feature resolution; each map weights F and is
average-pooled, written as one contraction (no B x M x C x h x w product is materialised); max over the KEPT
points only (a dropped point's zero vector would otherwise win the max wherever kept features are negative, as
with signed timm features); FC to ``embed_dim``; classifier. FRB: F split into K non-overlapping blocks, each
average-pooled and given its OWN FC and classifier; its loss is the sum of the K cross-entropies. Training loss is
lambda * L_LAB + (1 - lambda) * L_FRB; the prediction averages the two branches' softmax scores (the FRB's
score is the mean of its K regions' softmax scores).

A face none of whose interest points survives T has no attention features at all: its LAB output would be the
same distribution for every such face, i.e. noise. Such a face is predicted by the FRB alone and left out of
L_LAB (the mean is over the faces that kept a point).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from oadn.config import ModelConfig
from oadn.data.geometry import attention_maps, interest_points
from oadn.models.backbones import create_backbone
from oadn.models.base import FERModel, classification_loss
from oadn.models.registry import register_model


def _embedding_classifier(channels: int, embed_dim: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(channels, embed_dim), nn.ReLU(inplace=True), nn.Linear(embed_dim, num_classes))


def region_pool(features: torch.Tensor, regions: int) -> torch.Tensor:
    """B x C x h x w -> B x K x C: mean of each of K = n*n non-overlapping blocks, row-major.

    Blocks tile the map exactly; when h or w is not divisible by n the blocks differ by one cell
    (``torch.tensor_split`` sizes), never overlap.
    """
    n = math.isqrt(regions)
    if n * n != regions:
        raise ValueError(f"K must be a square number (1, 4, 9, 16, ...), got {regions}")
    h, w = features.shape[-2:]
    if n > min(h, w):
        raise ValueError(f"K={regions} needs a feature map of at least {n}x{n}, got {h}x{w}")
    pooled = [
        block.mean(dim=(2, 3))
        for band in torch.tensor_split(features, n, dim=2)
        for block in torch.tensor_split(band, n, dim=3)
    ]
    return torch.stack(pooled, dim=1)


class OADN(FERModel):
    uses_landmarks = True

    def __init__(self, config: ModelConfig, num_classes: int, image_size: int):
        super().__init__()
        if not 0.0 <= config.lam <= 1.0:
            raise ValueError(f"model.lam (lambda) must be in [0, 1], got {config.lam}")
        if config.sigma <= 0:
            raise ValueError(f"model.sigma must be positive, got {config.sigma}")
        backbone = create_backbone(config.backbone, config.pretrained)
        self.backbone = backbone.module
        self.image_size = image_size
        self.threshold = config.threshold
        self.sigma = config.sigma
        self.regions = config.regions
        self.lam = config.lam
        self.attention_head = _embedding_classifier(backbone.channels, config.embed_dim, num_classes)
        self.region_heads = nn.ModuleList(
            _embedding_classifier(backbone.channels, config.embed_dim, num_classes) for _ in range(config.regions)
        )

    def attention_features(self, features: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """B x C max over the kept interest points of the attention-weighted average of F, and B bools: whether
        the face kept any point (its features are zeros when not)."""
        points = interest_points(landmarks.float(), self.image_size)
        maps = attention_maps(points, tuple(features.shape[-2:]), self.image_size, self.sigma, self.threshold)
        h, w = features.shape[-2:]
        per_point = torch.einsum("bchw,bmhw->bmc", features, maps.to(features.dtype)) / (h * w)
        kept = points[..., 2] >= self.threshold  # B x M
        per_point = per_point.masked_fill(~kept[..., None], float("-inf"))
        valid = kept.any(dim=1)
        pooled = per_point.amax(dim=1)
        return torch.where(valid[:, None], pooled, torch.zeros_like(pooled)), valid

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        attended, valid = self.attention_features(features, landmarks)
        lab_logits = self.attention_head(attended)
        regions = region_pool(features, self.regions)
        frb_logits = torch.stack([head(regions[:, k]) for k, head in enumerate(self.region_heads)], dim=1)
        return {"lab": lab_logits, "frb": frb_logits, "lab_valid": valid}

    def loss(self, outputs, targets, label_smoothing=0.0):
        lab = classification_loss(outputs["lab"], targets, label_smoothing, mask=outputs["lab_valid"])
        frb = sum(classification_loss(outputs["frb"][:, k], targets, label_smoothing) for k in range(self.regions))
        loss = self.lam * lab + (1.0 - self.lam) * frb
        return loss, {"loss": loss.detach(), "loss_lab": lab.detach(), "loss_frb": frb.detach()}

    def branch_scores(self, outputs):
        lab = outputs["lab"].float().softmax(dim=-1)
        frb = outputs["frb"].float().softmax(dim=-1).mean(dim=1)
        # A branch with zero loss weight is never trained; fusing its scores would only add noise.
        if self.lam == 1.0:
            prediction = lab
        elif self.lam == 0.0:
            prediction = frb
        else:
            prediction = torch.where(outputs["lab_valid"][:, None], (lab + frb) / 2, frb)
        return {"prediction": prediction, "lab": lab, "frb": frb}


@register_model("oadn")
def oadn(config: ModelConfig, num_classes: int, image_size: int) -> FERModel:
    return OADN(config, num_classes, image_size)
