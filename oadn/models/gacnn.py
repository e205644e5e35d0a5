"""pACNN and gACNN: patch- and global-gated attention CNNs (Li, Zeng, Shan, Chen, "Occlusion aware facial
expression recognition using CNN with attention mechanism", IEEE TIP 2019; PG-CNN is the ICPR 2018 precursor).

The backbone's feature map F (the paper's VGG16 conv4_2, 28 x 28 at 224 px) is decomposed into patches, one
centred on each of the same 24 interest points OADN uses (:func:`oadn.data.geometry.interest_points`), each a
square of ``patch_fraction`` of the map side (6/28: the paper's 6 x 6 patches of a 28 x 28 map). Each patch goes
to its OWN patch-gated unit (PG-Unit): a conv layer, then a vector path (FC to ``unit_dim``) and an attention net
(conv, global pooling, two FC layers, sigmoid) whose weight alpha_i in (0, 1) scales the vector: the unit's output
is alpha_i * psi_i. gACNN adds the global-gated unit (GG-Unit): the whole map through its own conv layer, a
vector path (FC to ``global_dim``) and an attention net of the same shape, weighted likewise. The weighted
vectors are concatenated and classified by two FC layers; the loss is one softmax cross-entropy.

A patch is cut with ``roi_align`` around the point's position in feature cells (where the backbone's grid puts
it, as for OADN's attention maps), so a horizontal flip of the face, which mirrors the landmarks and swaps their
left/right identities, mirrors every patch and hands it to the unit of the mirrored point. Landmark scores are not
used: the gates are learned, which is the paper's point. Every open choice is listed in docs/methods.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchvision.ops import roi_align

from oadn.config import ModelConfig
from oadn.data.geometry import (
    CHEEK_CORNERS,
    DIRECT_INDICES,
    MIDPOINT_PAIRS,
    interest_point_indices,
    interest_points,
)
from oadn.models.backbones import create_backbone
from oadn.models.base import FERModel, classification_loss
from oadn.models.registry import register_model


@dataclass
class GatedOptions:
    """pACNN's and gACNN's settings (``model.patch_fraction``, ...; see the module docstring)."""

    #: a patch's side as a fraction of the feature map's (6/28: the paper's 6 x 6 patches of 28 x 28)
    patch_fraction: float = 6 / 28
    #: the widths of a patch unit's vector, the global unit's vector and the attention nets' hidden layer
    unit_dim: int = 64
    global_dim: int = 512
    attention_dim: int = 128
    #: the channels the units see (a wider map is reduced to this by a shared 1 x 1 conv)
    unit_channels: int = 512
    #: the classifier's hidden layer
    embed_dim: int = 256

    def checks(self) -> list[tuple[str, Any, bool, str]]:
        widths = [(key, getattr(self, key), getattr(self, key) >= 1, "an integer >= 1")
                  for key in ("unit_dim", "global_dim", "attention_dim", "unit_channels", "embed_dim")]
        return [("patch_fraction", self.patch_fraction, 0.0 < self.patch_fraction <= 1.0,
                 "a fraction of the feature map in (0, 1]"), *widths]


def patch_cells(feature_side: int, fraction: float) -> int:
    """The side of a patch in feature cells: ``fraction`` of the map side, at least 2 (a conv needs context)."""
    return max(2, round(fraction * feature_side))


def feature_patches(features: torch.Tensor, centres: torch.Tensor, size: int) -> torch.Tensor:
    """B x C x h x w map, B x M x 2 centres in cell-index coordinates (cell j at j) -> B x M x C x size x size
    patches of ``size`` cells around each centre (bilinear between cells, zeros beyond the map)."""
    batch, points = centres.shape[:2]
    middle = centres.float() + 0.5  # cell j spans [j, j + 1) in roi_align's continuous coordinates
    boxes = torch.cat([middle - size / 2, middle + size / 2], dim=-1)
    # one bilinear sample per output cell, at its centre: a centre on a cell reads the map's cells as they are
    patches = roi_align(features.float(), list(boxes.unbind(0)), output_size=size, spatial_scale=1.0,
                        sampling_ratio=1, aligned=True)
    return patches.view(batch, points, *patches.shape[1:]).to(features.dtype)


class AttentionNet(nn.Module):
    """conv -> ReLU -> global average pooling -> FC -> ReLU -> FC -> sigmoid: one weight in (0, 1) per input."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.conv(x).mean(dim=(2, 3))).squeeze(-1).float())


class GatedUnit(nn.Module):
    """The GG-Unit (on the whole map; a PG-Unit on a patch, with ``cells`` its side, has the same layers): its own
    conv, a vector psi and an attention weight alpha; returns (alpha * psi, alpha). ``cells``: the input's side
    when the vector path flattens it, None to average-pool it (the whole map, whose size depends on the input)."""

    def __init__(self, channels: int, dim: int, hidden: int, cells: int | None):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True))
        inputs = channels * cells * cells if cells else channels
        self.flatten = cells is not None
        self.vector = nn.Sequential(nn.Linear(inputs, dim), nn.ReLU(inplace=True))
        self.attention = AttentionNet(channels, hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        psi = self.vector(y.flatten(1) if self.flatten else y.mean(dim=(2, 3)))
        alpha = self.attention(y)
        return alpha[:, None].to(psi.dtype) * psi, alpha


class UnitLinear(nn.Module):
    """M independent FC layers, one per unit, as one batched product: B x M x in -> B x M x out."""

    def __init__(self, units: int, inputs: int, outputs: int):
        super().__init__()
        bound = inputs ** -0.5  # nn.Linear's default initialisation, per unit
        self.weight = nn.Parameter(torch.empty(units, inputs, outputs).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(units, outputs).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bmi,mio->bmo", x, self.weight.to(x.dtype)) + self.bias.to(x.dtype)


class PatchGatedUnits(nn.Module):
    """M PG-Units with their OWN weights, run together: each unit's convs are one group of a grouped conv and
    its FC layers one slice of a batched product, so no weight is shared and one kernel serves all units (24
    small modules called in turn cost several times more per step). Same layers as :class:`GatedUnit`:
    B x M x C x p x p patches -> (B x M x dim weighted vectors alpha_i * psi_i, B x M weights alpha_i)."""

    def __init__(self, units: int, channels: int, cells: int, dim: int, hidden: int):
        super().__init__()
        self.units, self.channels = units, channels
        wide = units * channels

        def grouped_conv() -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(wide, wide, 3, padding=1, groups=units), nn.ReLU(inplace=True))

        self.conv = grouped_conv()
        self.vector = UnitLinear(units, channels * cells * cells, dim)
        self.attention_conv = grouped_conv()
        self.attention_hidden = UnitLinear(units, channels, hidden)
        self.attention_out = UnitLinear(units, hidden, 1)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, units = patches.shape[:2]
        y = self.conv(patches.flatten(1, 2))  # B x (M C) x p x p, unit m in channels [m C, (m + 1) C)
        psi = torch.relu(self.vector(y.reshape(batch, units, -1)))
        pooled = self.attention_conv(y).reshape(batch, units, self.channels, -1).mean(dim=-1)
        alpha = torch.sigmoid(self.attention_out(torch.relu(self.attention_hidden(pooled))).squeeze(-1).float())
        return alpha[..., None].to(psi.dtype) * psi, alpha


@register_model("pacnn")
class PatchGatedCNN(FERModel):
    uses_landmarks = True
    Options = GatedOptions
    #: whether the global-gated unit is part of the model (gACNN) or not (pACNN)
    global_unit = False

    def __init__(self, config: ModelConfig, num_classes: int, image_size: int):
        super().__init__()
        options: GatedOptions = config.options
        backbone = create_backbone(config.backbone, config.pretrained)
        self.backbone = backbone.module
        self.stride, self.grid = backbone.stride, backbone.grid
        self.image_size = image_size
        self.patch = patch_cells(image_size // backbone.stride, options.patch_fraction)
        channels = min(backbone.channels, options.unit_channels)
        # a wide map (ResNet-50's 2048 channels) is first reduced to the paper's conv4_2 width by one shared 1 x 1
        # conv, or 24 units of 3 x 3 convs would hold billions of weights
        self.reduce = nn.Identity() if channels == backbone.channels else nn.Sequential(
            nn.Conv2d(backbone.channels, channels, 1), nn.ReLU(inplace=True))
        self.register_buffer("interest_indices", interest_point_indices(), persistent=False)
        points = len(DIRECT_INDICES) + len(MIDPOINT_PAIRS) + len(CHEEK_CORNERS)  # the 24 interest points
        self.patch_units = PatchGatedUnits(points, channels, self.patch, options.unit_dim,
                                           options.attention_dim)
        fused = points * options.unit_dim
        if self.global_unit:
            self.global_gate = GatedUnit(channels, options.global_dim, options.attention_dim, None)
            fused += options.global_dim
        self.classifier = nn.Sequential(nn.Linear(fused, options.embed_dim), nn.ReLU(inplace=True),
                                        nn.Linear(options.embed_dim, num_classes))

    def patches(self, features: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """B x 24 x C x p x p patches of F around the 24 interest points."""
        points = interest_points(landmarks.float(), self.image_size, self.interest_indices)
        return feature_patches(features, self.grid.cells(points[..., :2]), self.patch)

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.reduce(self.backbone(images))
        weighted, alpha = self.patch_units(self.patches(features, landmarks))
        vectors = [weighted.flatten(1)]
        outputs = {"patch_attention": alpha}
        if self.global_unit:
            vector, alpha = self.global_gate(features)
            vectors.append(vector)
            outputs["global_attention"] = alpha
        outputs["logits"] = self.classifier(torch.cat(vectors, dim=1))
        return outputs

    def loss(self, outputs, targets, label_smoothing=0.0):
        loss = classification_loss(outputs["logits"], targets, label_smoothing)
        return loss, {"loss": loss.detach()}

    def branch_scores(self, outputs):
        return {"prediction": outputs["logits"].float().softmax(dim=-1)}


@register_model("gacnn")
class GlobalGatedCNN(PatchGatedCNN):
    global_unit = True
