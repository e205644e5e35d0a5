"""Backbones that map an image batch to a feature map F (B x C x h x w), by name.

The paper's backbone is ResNet-50 with its last stage's stride set to 1 (no dilation), so a 224 input gives
F of 2048 x 14 x 14. ``resnet18`` gets the same surgery; ``resnet-tiny`` is a narrow 4-block ResNet with the same
surgery, sized for CPU tests and the demo; ``timm:<name>`` takes any timm model's ``forward_features`` as is.
Each backbone says where its feature cells are centred in the image (its :class:`CellGrid`): declared for the
registered ones, measured once per architecture for ``timm:`` (:mod:`oadn.models.receptive_field`).
``pretrained`` is a local state-dict file or a timm pretrained tag (``imagenet`` = timm's default weights for the
architecture; see :mod:`oadn.models.pretrained` for the caches and the offline rule), or a face-recognition tag
(``vggface2``: :mod:`oadn.models.face_backbones`, which also registers ``inception-resnet-v1``). A backbone whose
input is not normalised ImageNet's way declares its own ``normalisation`` (mean, std on 0..1 RGB pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from oadn.common.files import load_torch
from oadn.data.geometry import CellGrid
from oadn.models.pretrained import (
    SCRATCH,
    PretrainedWeightsError,
    fetch_timm_weights,
    is_local_file,
    split_face_tag,
    timm_name,
)
from oadn.models.receptive_field import measured_grid
from oadn.models.registry import BACKBONES, register_backbone
from oadn.models.state_fit import state_mismatch

if TYPE_CHECKING:  # timm (with torchvision under it) takes seconds to import: only the builders import it
    from timm.models.resnet import ResNet


@dataclass
class Backbone:
    """A feature extractor and the facts heads need about its output."""

    module: nn.Module
    channels: int
    stride: int
    grid: CellGrid  # where each feature cell's receptive field is centred (oadn.models.receptive_field)
    #: the feature map's side for an input side, where it is not ``size // stride`` (unpadded convolutions)
    side_at: Callable[[int], int] | None = None

    def feature_side(self, image_size: int) -> int:
        """Cells along each side of the feature map of an ``image_size`` square input."""
        return self.side_at(image_size) if self.side_at is not None else image_size // self.stride

    def smallest_input(self, cells: int) -> int:
        """The smallest input side whose feature map has at least ``cells`` cells a side."""
        size = self.stride * cells
        while self.feature_side(size) < cells:
            size += 1
        return size


def _last_stage_stride_one(model: ResNet) -> None:
    """Make layer4 keep layer3's resolution by setting its strided convs to stride 1 (no dilation)."""
    first_block = model.layer4[0]
    for name, module in first_block.named_modules():
        if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
            module.stride = (1, 1)
        elif isinstance(module, nn.AvgPool2d) and module.stride in (2, (2, 2)):
            parent_name, _, child = name.rpartition(".")
            parent = first_block.get_submodule(parent_name) if parent_name else first_block
            setattr(parent, child, nn.Identity())


class _ForwardFeatures(nn.Module):
    """Wrap a timm model so that calling it returns the unpooled feature map."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


def _resnet_last_stride_one(factory: Callable[[], ResNet]) -> Backbone:
    model = factory()
    model.reset_classifier(0)  # F is all the heads need; an unused 1000-way fc would only be trained by decay
    _last_stage_stride_one(model)
    stride = 16 if isinstance(model.maxpool, nn.MaxPool2d) else 8
    # zero-padded stride-2 convolutions (and the padded max-pool) centre cell j at stride * j
    return Backbone(_ForwardFeatures(model), channels=model.num_features, stride=stride, grid=CellGrid(stride, 0.0))


def _create_timm(architecture: str, tag: str | None, **kwargs) -> nn.Module:
    """A timm model with random weights, or with the pretrained weights of ``tag`` from the standard caches."""
    import timm

    if not timm.is_model(architecture):
        close = ", ".join(timm.list_models(f"*{architecture[:4]}*")[:5]) or "none"
        raise KeyError(f"timm has no model {architecture!r} (timm:NAME takes a name of timm.list_models(), e.g. "
                       f"timm:resnet18; close ones: {close})")
    if tag is None:
        return timm.create_model(architecture, pretrained=False, **kwargs)
    name = timm_name(architecture, tag)
    weights = fetch_timm_weights(name)
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(weights)}, **kwargs)


class _PlainFeatures(nn.Sequential):
    """A Sequential whose output is the feature map (the interface ``_ForwardFeatures`` gives timm models)."""


@register_backbone("resnet50")
def _resnet50(tag: str | None) -> Backbone:
    if split_face_tag(tag) is not None:  # the VGGFace2 weights belong to the Caffe ResNet-50
        from oadn.models.face_backbones import vggface2_resnet50

        return vggface2_resnet50(tag)
    return _resnet_last_stride_one(lambda: _create_timm("resnet50", tag))


@register_backbone("resnet18")
def _resnet18(tag: str | None) -> Backbone:
    return _resnet_last_stride_one(lambda: _create_timm("resnet18", tag))


@register_backbone("resnet-tiny")
def _resnet_tiny(tag: str | None) -> Backbone:
    _own_design("resnet-tiny", tag)
    return _resnet_last_stride_one(_tiny_resnet)


def _own_design(name: str, tag: str | None) -> None:
    """A backbone of this project's own design has no timm pretrained weights."""
    if tag is not None:
        raise PretrainedWeightsError(f"backbone {name!r} is this project's own design: timm has no pretrained "
                                     f"weights for it (tag {tag!r}); pass a local weights file or use a timm backbone")


@register_backbone("cnn-tiny")
def _tiny_cnn(tag: str | None) -> Backbone:
    """Four conv-BN-ReLU blocks (16-128 channels), max-pooled after the first three: a 64 px face gives an
    8 x 8 map (stride 8). Learns the synthetic demo far faster on a CPU than a ResNet of the same cost."""

    def block(cin: int, cout: int, pool: bool) -> list[nn.Module]:
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        return layers + ([nn.MaxPool2d(2)] if pool else [])

    _own_design("cnn-tiny", tag)
    layers = block(3, 16, True) + block(16, 32, True) + block(32, 64, True) + block(64, 128, False)
    # unpadded 2 x 2 max-pools: cell j covers pixels [8j, 8j + 8), centred at 8j + 3.5
    return Backbone(_PlainFeatures(*layers), channels=128, stride=8, grid=CellGrid(8, 3.5))


def _tiny_resnet() -> ResNet:
    """One BasicBlock per stage (16-128 channels) behind a light 3-conv stem without max-pool, so small CPU-sized
    inputs keep the detail expressions live in: a 64 px face gives an 8 x 8 map (stride 8)."""
    from timm.models.resnet import BasicBlock, ResNet

    model = ResNet(BasicBlock, layers=(1, 1, 1, 1), channels=(16, 32, 64, 128), stem_width=8, stem_type="deep")
    model.maxpool = nn.Identity()
    return model


def list_backbones() -> list[str]:
    return BACKBONES.names() + ["timm:<any timm model name>"]


def _timm_backbone(name: str, tag: str | None = None) -> Backbone:
    model = _create_timm(name, tag, num_classes=0, global_pool="")
    stride = int(model.feature_info[-1]["reduction"]) if getattr(model, "feature_info", None) else 32
    module = _ForwardFeatures(model)
    grid = measured_grid(f"timm:{name}", module, stride)
    return Backbone(module, channels=model.num_features, stride=stride, grid=grid)


def load_pretrained(backbone: Backbone, path: str | Path) -> None:
    """Load a local state dict into the backbone; classifier keys (fc.*, head.*) are ignored, others must match."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = load_torch(path)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    target = backbone.module.model
    state = {k.removeprefix("module.").removeprefix("model."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "head.", "classifier."))}
    mismatch = state_mismatch(target.state_dict(), state)
    if mismatch:
        raise ValueError(f"{path}: weights do not fit the backbone: {mismatch.describe()}")
    target.load_state_dict(state)


def create_backbone(name: str, pretrained: str | Path | None = None) -> Backbone:
    """Build backbone ``name`` with random weights (``pretrained`` None or "scratch"), a timm pretrained tag's
    weights (e.g. "imagenet"), or a local state dict file."""
    if not name.startswith("timm:") and name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; available: {', '.join(list_backbones())}")
    face = split_face_tag(pretrained)
    if face is not None:
        from oadn.models.face_weights import published_for

        published_for(name, face[0])  # a backbone without such weights is named with those that have them
    file = pretrained if pretrained is not None and is_local_file(pretrained) else None
    tag = None if file is not None or pretrained is None or str(pretrained).lower() in SCRATCH else str(pretrained)
    backbone = _timm_backbone(name.removeprefix("timm:"), tag) if name.startswith("timm:") else BACKBONES.get(name)(tag)
    if file is not None:
        load_pretrained(backbone, file)
    return backbone


def input_normalisation(module: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the backbone's inputs are normalised with: timm's data config of the wrapped model, so a
    ``timm:`` backbone gets its own constants; backbones without one get timm's default (ImageNet's). A backbone
    that declares ``normalisation`` (the face-recognition ones) gets its own."""
    declared = getattr(module, "normalisation", None)
    if declared is not None:
        return tuple(map(float, declared[0])), tuple(map(float, declared[1]))
    from timm.data import resolve_data_config

    config = resolve_data_config({}, model=getattr(module, "model", module))
    return tuple(float(v) for v in config["mean"]), tuple(float(v) for v in config["std"])
