"""A warning for the one setting that makes the paper's recipe fail quietly: a large backbone from scratch."""

from __future__ import annotations

import warnings

from oadn.config import ModelConfig

#: backbones the paper's schedule (lr 0.1, 60 epochs) only trains well from pre-trained weights
LARGE_BACKBONES = ("resnet50", "timm:resnet50")


def warn_large_backbone_from_scratch(model: ModelConfig) -> None:
    """Warn when a large backbone starts from random weights (the paper initialises ResNet-50 from ImageNet)."""
    if model.backbone in LARGE_BACKBONES and not model.pretrained:
        warnings.warn(
            f"training {model.backbone} from scratch: the OADN paper starts from ImageNet weights (and its best rows "
            "from VGGFace2's); pass model.pretrained=imagenet, vggface2 or a local state dict file, or expect far "
            "lower accuracy", stacklevel=2
        )
