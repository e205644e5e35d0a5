"""RAN: Region Attention Networks (Wang, Peng, Yang, Meng, Qiao, IEEE TIP 2020), the method of the
Occlusion-/Pose- test lists the OADN paper reports on.

In the paper's notation: the aligned face I is cropped into regions I_1..I_K, and the face itself is kept as
region I_0; ONE backbone, shared by every region, gives each region a feature F_i (its map average-pooled).
Self-attention: mu_i = sigmoid(q0 . F_i), a weight in (0, 1) per region, and F_m = sum_i mu_i F_i / sum_i mu_i.
Relation-attention: nu_i = sigmoid(q1 . [F_i; F_m]), and P_RAN = sum_i mu_i nu_i [F_i; F_m] / sum_i mu_i nu_i,
classified by one FC layer. Region biased loss: L_RB = max(0, margin - (max_{i>=1} mu_i - mu_0)), which asks the
most attended crop to beat the whole face by the margin; the training loss is L_CE + rb_weight * L_RB.

Regions (``model.crops``): ``fixed`` is the paper's fixed-position cropping, three crops of
``crop_ratio`` of the face side (top-left, top-right, centre-bottom); ``landmark`` is its landmark-based
cropping, one square of ``landmark_ratio`` of the face side around each of five points (eye centres, nose tip,
mouth corners). Crops are cut with ``roi_align`` from the normalised image batch on the device and resized to
``region_size`` pixels (0: the input size, as the paper resizes every crop to the network's input), so a
horizontal flip of the face mirrors every crop (the landmark crops follow the loader's mirrored landmarks).
Every choice the paper leaves open, and what the authors' public code does instead, is in docs/methods.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from oadn.config import ConfigError, ModelConfig
from oadn.data.ibug68 import LEFT_EYE, MOUTH_CORNERS, NOSE_TIP, RIGHT_EYE
from oadn.models.backbones import create_backbone
from oadn.models.base import FERModel, classification_loss
from oadn.models.registry import register_model

CROPS = ("fixed", "landmark")


@dataclass
class RANOptions:
    """RAN's settings (``model.crops``, ...; see the module docstring)."""

    #: fixed (the paper's three fixed-position crops) or landmark (five crops around landmarks)
    crops: str = "fixed"
    #: a fixed crop's side, as a fraction of the face side
    crop_ratio: float = 0.75
    #: a landmark crop's side, as a fraction of the face side
    landmark_ratio: float = 0.5
    #: the side every crop is resized to, in pixels; 0: the input size
    region_size: int = 0
    #: the region biased loss's margin, and its weight beside the cross-entropy
    margin: float = 0.02
    rb_weight: float = 1.0

    def checks(self) -> list[tuple[str, Any, bool, str]]:
        return [
            ("crops", self.crops, self.crops in CROPS, " or ".join(CROPS)),
            ("crop_ratio", self.crop_ratio, 0.0 < self.crop_ratio <= 1.0, "a fraction of the face in (0, 1]"),
            ("landmark_ratio", self.landmark_ratio, 0.0 < self.landmark_ratio <= 1.0,
             "a fraction of the face in (0, 1]"),
            ("region_size", self.region_size, self.region_size >= 0, "a side in pixels >= 0 (0: the input size)"),
            ("margin", self.margin, self.margin >= 0, "a number >= 0"),
            ("rb_weight", self.rb_weight, self.rb_weight >= 0, "a number >= 0"),
        ]


def fixed_boxes(crop_ratio: float) -> torch.Tensor:
    """K x 4 boxes (x1, y1, x2, y2) as fractions of the face side: top-left, top-right, centre-bottom."""
    r = crop_ratio
    return torch.tensor([[0.0, 0.0, r, r], [1.0 - r, 0.0, 1.0, r], [(1.0 - r) / 2, 1.0 - r, (1.0 + r) / 2, 1.0]])


def five_point_centres(landmarks: torch.Tensor) -> torch.Tensor:
    """B x 68 x 3 landmarks (pixel-index coordinates) -> B x 5 x 2: eye centres, nose tip, outer mouth corners."""
    xy = landmarks[..., :2].float()
    return torch.stack([xy[:, RIGHT_EYE].mean(1), xy[:, LEFT_EYE].mean(1), xy[:, NOSE_TIP],
                        xy[:, MOUTH_CORNERS[0]], xy[:, MOUTH_CORNERS[1]]], dim=1)


def region_boxes(landmarks: torch.Tensor, image_size: int, crops: str, crop_ratio: float,
                 landmark_ratio: float) -> torch.Tensor:
    """B x (1 + K) x 4 boxes in continuous image coordinates (pixel i spans [i, i + 1)): the whole face first
    (region 0), then the K crops."""
    batch = landmarks.shape[0]
    face = torch.tensor([0.0, 0.0, 1.0, 1.0], device=landmarks.device) * image_size
    if crops == "fixed":
        parts = (fixed_boxes(crop_ratio).to(landmarks.device) * image_size).expand(batch, -1, -1)
    else:
        centres = five_point_centres(landmarks) + 0.5  # a landmark at pixel index x is the centre of [x, x + 1)
        half = landmark_ratio * image_size / 2
        parts = torch.cat([centres - half, centres + half], dim=-1)
    return torch.cat([face.expand(batch, 1, 4), parts], dim=1)


def crop_regions(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """B x C x H x W images, B x R x 4 boxes -> B x R x C x size x size crops (bilinear, zeros outside)."""
    batch, regions = boxes.shape[:2]
    crops = roi_align(images.float(), list(boxes.float().unbind(0)), output_size=size, spatial_scale=1.0,
                      sampling_ratio=2, aligned=True)
    return crops.view(batch, regions, *crops.shape[1:]).to(images.dtype)


def region_biased_loss(mu: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over faces of max(0, margin - (max over crops of mu_i - mu_0)); ``mu``: B x (1 + K), face first."""
    return F.relu(margin - (mu[:, 1:].amax(dim=1) - mu[:, 0])).mean()


@register_model("ran")
class RegionAttentionNetwork(FERModel):
    Options = RANOptions

    def __init__(self, config: ModelConfig, num_classes: int, image_size: int):
        super().__init__()
        options: RANOptions = config.options
        backbone = create_backbone(config.backbone, config.pretrained)
        self.region_size = options.region_size or image_size
        if self.region_size < backbone.stride:
            raise ConfigError(f"config.model.region_size = {self.region_size}: below backbone {config.backbone}'s "
                              f"stride ({backbone.stride}), a crop would have no feature cell")
        self.uses_landmarks = options.crops == "landmark"
        self.image_size = image_size
        self.crops = options.crops
        self.crop_ratio = options.crop_ratio
        self.landmark_ratio = options.landmark_ratio
        self.margin = options.margin
        self.rb_weight = options.rb_weight
        self.backbone = backbone.module  # one backbone for every region (the paper's shared CNN)
        channels = backbone.channels
        self.self_attention = nn.Linear(channels, 1)  # q0, shared by the regions
        self.relation_attention = nn.Linear(2 * channels, 1)  # q1, shared by the regions
        self.classifier = nn.Linear(2 * channels, num_classes)

    def regions(self, images: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """B x (1 + K) x C x s x s: the whole face, then the crops."""
        boxes = region_boxes(landmarks, self.image_size, self.crops, self.crop_ratio, self.landmark_ratio)
        return crop_regions(images, boxes, self.region_size)

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        crops = self.regions(images, landmarks)
        batch, regions = crops.shape[:2]
        features = self.backbone(crops.flatten(0, 1)).mean(dim=(2, 3)).view(batch, regions, -1)  # F_i
        mu = torch.sigmoid(self.self_attention(features).squeeze(-1).float())  # B x R, in (0, 1)
        weights = mu[..., None].to(features.dtype)
        aggregated = (weights * features).sum(dim=1) / weights.sum(dim=1)  # F_m
        joint = torch.cat([features, aggregated[:, None].expand_as(features)], dim=-1)  # [F_i; F_m]
        nu = torch.sigmoid(self.relation_attention(joint).squeeze(-1).float())
        both = (mu * nu)[..., None].to(joint.dtype)
        pooled = (both * joint).sum(dim=1) / both.sum(dim=1)  # P_RAN
        return {"logits": self.classifier(pooled), "self_attention": mu, "relation_attention": nu}

    def loss(self, outputs, targets, label_smoothing=0.0):
        ce = classification_loss(outputs["logits"], targets, label_smoothing)
        rb = region_biased_loss(outputs["self_attention"], self.margin)
        loss = ce + self.rb_weight * rb
        return loss, {"loss": loss.detach(), "loss_ce": ce.detach(), "loss_rb": rb.detach()}

    def branch_scores(self, outputs):
        return {"prediction": outputs["logits"].float().softmax(dim=-1)}
