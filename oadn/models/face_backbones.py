"""Backbones with face-recognition weights: the VGGFace2 Caffe ResNet-50 (``resnet50`` with ``vggface2``) and
facenet-pytorch's InceptionResnetV1 (``inception-resnet-v1``), each with its own input normalisation.

The VGGFace2 ResNet-50 is a Caffe ResNet, which differs from timm's and torchvision's in two places that keep
every weight's shape: a stage's stride is on the first 1 x 1 convolution of its first block (not on the 3 x 3),
and the stem's 3 x 3 max-pool has no padding and rounds up. Its weights are loaded into that network, with the
paper's surgery (the last stage's stride set to 1), so a 224 px face still gives F of 2048 x 14 x 14; the
unpadded max-pool moves every cell 2 px right and down of a torchvision ResNet's (measured, not assumed). It
takes BGR pixels on 0..255 less the VGGFace2 mean: the backbone turns RGB into BGR as its first step and declares
(mean, std) so that the loader's ``(x - mean) / std`` on 0..1 pixels gives exactly that.

InceptionResnetV1's feature map is ``block8``'s output (1792 channels; the network's own average pool, embedding
and classifier are not used): unpadded convolutions give 3 x 3 cells at 160 px (the size it was trained at) and
5 x 5 at 224 px, cell j centred at 32 j + 37 px (measured by the gradient centroid). OADN's K = 4 regions need
2 x 2 cells, so 107 px is its smallest input for OADN (preflight says so: :func:`inception_side`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from oadn.common.console import log
from oadn.models.backbones import Backbone, _create_timm, _last_stage_stride_one
from oadn.models.face_weights import (
    VGGFACE2_MEAN_BGR,
    LoadReport,
    load_checked,
    published_for,
    read_state,
    torchvision_names,
    weights_file,
)
from oadn.models.pretrained import split_face_tag
from oadn.models.receptive_field import measured_grid
from oadn.models.registry import register_backbone

if TYPE_CHECKING:
    from timm.models.resnet import ResNet

#: (mean, std) on 0..1 RGB pixels that make the loader's normalisation the Caffe models' BGR mean subtraction on
#: 0..255 (the channels are reversed by the backbone itself)
CAFFE_NORMALISATION = (tuple(m / 255 for m in reversed(VGGFACE2_MEAN_BGR)), (1 / 255,) * 3)
#: facenet-pytorch's fixed_image_standardization, (x - 127.5) / 128 on 0..255
FACENET_NORMALISATION = ((0.5, 0.5, 0.5), (128 / 255,) * 3)
#: InceptionResnetV1's layers up to its feature map, in order
INCEPTION_LAYERS = ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a", "conv2d_4b",
                    "repeat_1", "mixed_6a", "repeat_2", "mixed_7a", "repeat_3", "block8")
INCEPTION_STRIDE = 32


class _BgrFeatures(nn.Module):
    """A Caffe ResNet's feature map of RGB input: the channels reversed to BGR first."""

    normalisation = CAFFE_NORMALISATION

    def __init__(self, model: ResNet):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x.flip(1))


class _InceptionFeatures(nn.Module):
    """InceptionResnetV1 up to ``block8``: its 1792-channel feature map."""

    normalisation = FACENET_NORMALISATION

    def __init__(self):
        super().__init__()
        from facenet_pytorch import InceptionResnetV1

        network = InceptionResnetV1()
        for name in INCEPTION_LAYERS:  # under facenet-pytorch's own names, so its state dicts load as they are
            self.add_module(name, getattr(network, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in INCEPTION_LAYERS:
            x = getattr(self, name)(x)
        return x


def caffe_resnet50() -> ResNet:
    """A timm ResNet-50 rewired as the Caffe ResNet-50 (strides on the 1 x 1 convolutions, unpadded ceil-mode
    max-pool); every weight keeps its name and shape."""
    model = _create_timm("resnet50", None)
    model.reset_classifier(0)
    model.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)
    for stage in (model.layer2, model.layer3, model.layer4):
        first = stage[0]
        stride = first.conv2.stride
        first.conv1.stride, first.conv2.stride = stride, (1, 1)
    return model


def _report(report: LoadReport, normalisation: tuple[tuple[float, ...], tuple[float, ...]]) -> LoadReport:
    report.mean, report.std = normalisation
    for line in report.lines():
        log(line)
    return report


def vggface2_resnet50(value: str) -> Backbone:
    """The Caffe ResNet-50 with the paper's last stride 1, loaded with the VGGFace2 weights ``value`` names."""
    tag, _ = split_face_tag(value)
    spec = published_for("resnet50", tag)
    path = weights_file(spec, value)  # before building anything: a missing file is named first
    model = caffe_resnet50()
    _last_stage_stride_one(model)
    module = _BgrFeatures(model)
    state = torchvision_names(read_state(path))
    module.load_report = _report(load_checked(model, state, spec, path), CAFFE_NORMALISATION)
    grid = measured_grid("caffe-resnet50", module, 16, stride_known=True)
    return Backbone(module, channels=model.num_features, stride=16, grid=grid)


@register_backbone("inception-resnet-v1")
def _inception_resnet_v1(tag: str | None) -> Backbone:
    """facenet-pytorch's InceptionResnetV1 feature map (see the module docstring); ``vggface2`` or
    ``casia-webface`` load the published face-recognition weights."""
    module = _InceptionFeatures()
    if tag is not None:
        face = split_face_tag(tag)
        spec = published_for("inception-resnet-v1", face[0] if face else tag)
        path = weights_file(spec, tag)
        module.load_report = _report(load_checked(module, read_state(path), spec, path), FACENET_NORMALISATION)
    grid = measured_grid("inception-resnet-v1", module, INCEPTION_STRIDE, stride_known=True)
    return Backbone(module, channels=1792, stride=INCEPTION_STRIDE, grid=grid, side_at=inception_side)


def inception_side(size: int) -> int:
    """InceptionResnetV1's feature map side for a ``size`` input: its unpadded 3 x 3 convolutions and poolings
    (stride 2: ``(n - 3) // 2 + 1``; stride 1: ``n - 2``), in order."""
    for op in ("s2", "s1", "same", "s2", "same", "s1", "s2", "s2", "s2"):
        size = (size - 3) // 2 + 1 if op == "s2" else size - 2 if op == "s1" else size
    return max(size, 0)
