"""The baselines every table compares OADN with: the same backbone and global average pooling, then one
classifier (``baseline``, the usual GAP baseline) or OADN's own head, FC-256 + ReLU + classifier
(``baseline-fc``: the control that separates OADN's landmark guidance from its larger heads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from oadn.config import ModelConfig
from oadn.models.backbones import create_backbone
from oadn.models.base import FERModel, classification_loss, embedding_classifier
from oadn.models.registry import register_model


@register_model("baseline")
class GapClassifier(FERModel):
    def __init__(self, config: ModelConfig, num_classes: int, image_size: int):
        super().__init__()
        backbone = create_backbone(config.backbone, config.pretrained)
        self.backbone = backbone.module
        self.classifier = nn.Linear(backbone.channels, num_classes)

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        return {"logits": self.classifier(features.mean(dim=(2, 3)))}

    def loss(self, outputs, targets, label_smoothing=0.0):
        loss = classification_loss(outputs["logits"], targets, label_smoothing)
        return loss, {"loss": loss.detach()}

    def branch_scores(self, outputs):
        return {"prediction": outputs["logits"].float().softmax(dim=-1)}


@dataclass
class EmbeddingOptions:
    """The width of OADN's FC-256 head (``model.embed_dim``), for the control that has it."""

    embed_dim: int = 256

    def checks(self) -> list[tuple[str, Any, bool, str]]:
        return [("embed_dim", self.embed_dim, self.embed_dim >= 1, "an integer >= 1")]


@register_model("baseline-fc")
class GapEmbeddingClassifier(GapClassifier):
    Options = EmbeddingOptions

    def __init__(self, config: ModelConfig, num_classes: int, image_size: int):
        super().__init__(config, num_classes, image_size)
        channels = self.classifier.in_features
        self.classifier = embedding_classifier(channels, config.options.embed_dim, num_classes)
