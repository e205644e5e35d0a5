"""OADN (Ding, Zhou, Chellappa 2020): a landmark-guided attention branch and a facial region branch.

LAB: one Gaussian map per kept interest point (score >= T, on a face the detector found) at feature resolution,
centred where the backbone's feature cells see (its cell grid); each map weights F and is pooled
(``model.lab_pooling``: "mean" over all cells, the paper's GAP read literally, or "weighted", divided by the
map's mass), written as one contraction (no B x M x C x h x w product is materialised); max over the KEPT
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
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from oadn.config import TEST_TIME, ModelConfig, role
from oadn.data.geometry import attention_maps, face_found, interest_point_indices, interest_points, kept_points
from oadn.models.backbones import create_backbone
from oadn.models.base import FERModel, classification_loss, embedding_classifier
from oadn.models.registry import register_model


def _block_of_cell(length: int, parts: int, device: torch.device) -> torch.Tensor:
    """Which of ``parts`` consecutive blocks each of ``length`` cells falls in, with ``torch.tensor_split``'s
    sizes (the first ``length % parts`` blocks are one cell longer)."""
    size, longer = divmod(length, parts)
    cells = torch.arange(length, device=device)
    boundary = longer * (size + 1)
    return torch.where(cells < boundary, cells // (size + 1), longer + (cells - boundary) // max(size, 1))


def region_masks(feature_size: tuple[int, int], regions: int, device: torch.device) -> torch.Tensor:
    """K x h x w 0/1 masks of K = n*n non-overlapping blocks that tile the map exactly, row-major.

    When h or w is not divisible by n the blocks differ by one cell (``torch.tensor_split`` sizes), never overlap.
    """
    n = math.isqrt(regions)
    if n * n != regions:
        raise ValueError(f"K must be a square number (1, 4, 9, 16, ...), got {regions}")
    h, w = feature_size
    if n > min(h, w):
        raise ValueError(f"K={regions} needs a feature map of at least {n}x{n}, got {h}x{w}")
    block = _block_of_cell(h, n, device)[:, None] * n + _block_of_cell(w, n, device)[None, :]
    return (block[None] == torch.arange(regions, device=device)[:, None, None]).float()


def weighted_sums(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """B x C x h x w features, B x M x h x w weights -> B x M x C: sum over cells of weight times F, as one
    contraction. No B x M x C x h x w product is materialised, and the gradient reaches F as one matrix product
    in F's own memory layout (slicing F into blocks would send back K full-size, mostly-zero gradients)."""
    return torch.einsum("bchw,bmhw->bmc", features, weights.to(features.dtype))


LAB_POOLINGS = ("mean", "weighted")


@dataclass
class OADNOptions:
    """OADN's settings (``model.threshold``, ...), in the paper's notation."""

    #: T: interest points scoring below it are dropped
    threshold: float = field(default=0.6, metadata=role(TEST_TIME))
    #: K: the blocks the region branch splits the feature map into (a square number)
    regions: int = 4
    #: lambda: the weight of the attention branch's loss
    lam: float = 0.5
    #: the attention Gaussian's standard deviation, in feature cells
    sigma: float = field(default=1.0, metadata=role(TEST_TIME))
    #: the FC layer of every branch's and region's head
    embed_dim: int = 256
    #: how the attention branch pools F * A_i: "weighted" (divided by the map's mass: an attention-weighted
    #: average) or "mean" over all h*w cells (the paper's "GAP" read literally, which scales the branch by each
    #: map's mass / (h*w)); the default is the measured choice (docs/model.md)
    lab_pooling: str = "weighted"

    def checks(self) -> list[tuple[str, Any, bool, str]]:
        return [
            ("threshold", self.threshold, 0.0 <= self.threshold <= 1.0, "T in [0, 1] (a landmark score)"),
            ("regions", self.regions, self.regions >= 1 and math.isqrt(self.regions) ** 2 == self.regions,
             "K a square number: 1, 4, 9, 16, ..."),
            ("lam", self.lam, 0.0 <= self.lam <= 1.0, "lambda in [0, 1]"),
            ("sigma", self.sigma, self.sigma > 0, "a positive number of feature cells"),
            ("embed_dim", self.embed_dim, self.embed_dim >= 1, "an integer >= 1"),
            ("lab_pooling", self.lab_pooling, self.lab_pooling in LAB_POOLINGS, " or ".join(LAB_POOLINGS)),
        ]


@register_model("oadn")
class OADN(FERModel):
    uses_landmarks = True
    Options = OADNOptions

    @classmethod
    def min_feature_cells(cls, config: ModelConfig) -> int:
        """The K regions need a feature map of at least sqrt(K) x sqrt(K) cells."""
        return math.isqrt(config.options.regions)

    def __init__(self, config: ModelConfig, num_classes: int, image_size: int):
        super().__init__()
        options: OADNOptions = config.options
        backbone = create_backbone(config.backbone, config.pretrained)
        self.backbone = backbone.module
        self.image_size = image_size
        self.threshold = options.threshold
        self.sigma = options.sigma
        self.regions = options.regions
        self.lam = options.lam
        self.lab_pooling = options.lab_pooling
        self.grid = backbone.grid
        self.attention_head = embedding_classifier(backbone.channels, options.embed_dim, num_classes)
        self.region_heads = nn.ModuleList(
            embedding_classifier(backbone.channels, options.embed_dim, num_classes) for _ in range(options.regions)
        )
        # the 68 -> 24 rule's gather indices, on the model's device (not part of the weights)
        self.register_buffer("interest_indices", interest_point_indices(), persistent=False)

    def pool(self, features: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Both branches' pooling as one contraction of F: B x M x C pooled F * A_i (one per interest point; see
        ``model.lab_pooling``), B x K x C region means, and B x M bools: which points were kept."""
        h, w = features.shape[-2:]
        landmarks = landmarks.float()
        points = interest_points(landmarks, self.image_size, self.interest_indices)
        kept = kept_points(points, self.threshold, face_found(landmarks))
        attention = attention_maps(points, kept, (h, w), self.grid, self.sigma)
        masks = region_masks((h, w), self.regions, features.device)
        weights = torch.cat([attention, masks.expand(features.shape[0], -1, -1, -1)], dim=1)
        sums = weighted_sums(features, weights)
        per_point, regions = sums.split([attention.shape[1], self.regions], dim=1)
        areas = masks.sum(dim=(1, 2))[:, None].to(sums.dtype)
        if self.lab_pooling == "weighted":  # a dropped point's map is all zeros: its sum stays 0
            per_point = per_point / attention.sum(dim=(2, 3))[..., None].clamp_min(1e-12).to(sums.dtype)
        else:
            per_point = per_point / (h * w)
        return per_point, regions / areas, kept

    @staticmethod
    def max_over_kept(per_point: torch.Tensor, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """B x C max over the kept points' features, and B bools: whether the face kept any point (its features
        are zeros when not)."""
        per_point = per_point.masked_fill(~kept[..., None], float("-inf"))
        valid = kept.any(dim=1)
        pooled = per_point.amax(dim=1)
        return torch.where(valid[:, None], pooled, torch.zeros_like(pooled)), valid

    def score_threshold(self) -> float:
        return self.threshold

    def kept_point_counts(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return outputs["kept_points"]

    def attention_features(self, features: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention branch's B x C features and B validity bools (see :meth:`max_over_kept`)."""
        per_point, _, kept = self.pool(features, landmarks)
        return self.max_over_kept(per_point, kept)

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        per_point, regions, kept = self.pool(features, landmarks)
        attended, valid = self.max_over_kept(per_point, kept)
        lab_logits = self.attention_head(attended)
        frb_logits = torch.stack([head(regions[:, k]) for k, head in enumerate(self.region_heads)], dim=1)
        return {"lab": lab_logits, "frb": frb_logits, "lab_valid": valid, "kept_points": kept.sum(dim=1)}

    def loss(self, outputs, targets, label_smoothing=0.0):
        lab = classification_loss(outputs["lab"], targets, label_smoothing, mask=outputs["lab_valid"])
        # the sum of the K regions' mean cross-entropies, as K times one mean over all B*K rows (one loss kernel)
        frb = self.regions * classification_loss(
            outputs["frb"].flatten(0, 1), targets.repeat_interleave(self.regions, dim=0), label_smoothing
        )
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
