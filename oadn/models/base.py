"""The interface the training loop and evaluation rely on, shared by OADN and the baselines."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from oadn.config import ModelConfig, NoOptions


def embedding_classifier(channels: int, embed_dim: int, num_classes: int) -> nn.Sequential:
    """OADN's head on a pooled feature: FC to ``embed_dim``, ReLU, classifier (every branch and region has one)."""
    return nn.Sequential(nn.Linear(channels, embed_dim), nn.ReLU(inplace=True), nn.Linear(embed_dim, num_classes))


def classification_loss(
    logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy against class indices (B,) or probability targets (B x C, soft labels); with a boolean
    ``mask`` (B,) the mean over the faces it keeps only (0 when it keeps none)."""
    if mask is None:
        return F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
    per_face = F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing, reduction="none")
    kept = mask.to(per_face.dtype)
    return (per_face * kept).sum() / kept.sum().clamp(min=1.0)


class FERModel(nn.Module):
    """A method: forward gives raw outputs per branch; ``loss`` and ``branch_scores`` interpret them.

    ``branch_scores`` returns class probabilities per branch plus the key ``"prediction"``, the score a method
    is judged by; metrics are reported for every key.
    """

    #: whether forward needs the 68 x 3 landmarks (the loader always provides them)
    uses_landmarks: bool = False
    #: the method's own settings, a dataclass (``model.KEY`` in a configuration, ``config.options.KEY`` here):
    #: typed fields with defaults, ``checks()`` for their ranges, and a role in the field metadata for a setting
    #: that acts in the forward pass only (``oadn.config.role(TEST_TIME)``)
    Options: type = NoOptions

    @classmethod
    def min_feature_cells(cls, config: ModelConfig) -> int:
        """The smallest side, in cells, of the backbone's feature map this method can work on."""
        return 1

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def loss(
        self, outputs: dict[str, torch.Tensor], targets: torch.Tensor, label_smoothing: float = 0.0
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss and its detached components (kept on the device: no sync per step)."""
        raise NotImplementedError

    def branch_scores(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def score_threshold(self) -> float | None:
        """The landmark score under which the method drops a point (OADN's T); None when it does not read the
        scores (training warns when no sampled face has a point at or above it)."""
        return None

    def kept_point_counts(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """B ints from forward's outputs: how many interest points each face kept, for methods that drop points
        by their scores (the prediction table records it, so score modes can be compared by what they drop);
        None otherwise."""
        return None
