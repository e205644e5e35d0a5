"""Face-recognition pre-trained weights: where each is published, fetching it into the torch hub cache, reading
it without running code from it, and loading it into a backbone with every layer name and shape checked.

The OADN paper's best rows start from a ResNet-50 trained for face recognition on VGGFace2 (Cao, Shen, Xie,
Parkhi, Zisserman, FG 2018). Its authors released Caffe models (``resnet50_ft``: pre-trained on MS-Celeb-1M,
then fine-tuned on VGGFace2; ``resnet50_scratch``: VGGFace2 alone); the release the FER literature loads is
their conversion to PyTorch by cydonia999/VGGFace2-pytorch, a Python pickle of a dict of numpy arrays under
torchvision's layer names (``resnet50_ft_weight.pkl``, ``resnet50_scratch_weight.pkl``, on Google Drive). S.
Albanie's MatConvNet conversion (``resnet50_ft_dag.pth``) is a torch state dict under the Caffe layer names
(``conv2_1_1x1_reduce``); both are read here, the second renamed. These networks are Caffe ResNets: the stride of
a stage sits on its first 1 x 1 convolution and the stem's max-pool is unpadded with ceil rounding, and they take
BGR pixels in 0..255 with the per-channel mean (91.4953, 103.8827, 131.0912) subtracted, not ImageNet's
normalisation. facenet-pytorch's InceptionResnetV1 weights (VGGFace2, CASIA-WebFace) are torch state dicts
published as GitHub release files; that network takes RGB (x - 127.5) / 128.

A tag (``model.pretrained: vggface2``) names the file in the torch hub cache (``$TORCH_HOME/hub/checkpoints``),
fetched there when downloads are on; with ``HF_HUB_OFFLINE=1`` a missing file is an error naming the file, the
folder and where to get it. ``vggface2:/path/to/file`` loads a file the user downloaded. A pickle is read by
:func:`oadn.common.safe_pickle.load_array_pickle`, a torch file with ``weights_only`` loading.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from oadn.common.downloads import download, hub_checkpoints, offline
from oadn.common.files import load_torch
from oadn.common.safe_pickle import load_array_pickle
from oadn.models.pretrained import FACE_TAGS, PretrainedWeightsError, split_face_tag
from oadn.models.state_fit import state_mismatch

#: the Caffe VGGFace2 networks' per-channel mean, B, G, R, on 0..255 pixels (resnet50_ft.prototxt)
VGGFACE2_MEAN_BGR = (91.4953, 103.8827, 131.0912)


@dataclass(frozen=True)
class FaceWeights:
    """One published set of face-recognition weights for one backbone."""

    backbone: str
    tag: str
    #: the file's name in the torch hub cache (the name it is published under)
    file: str
    #: where it is fetched from when downloads are on
    url: str
    #: the page that publishes it, for a user who downloads it by hand
    page: str
    what: str
    #: name prefixes in the file the backbone has no use for (the identity classifier and embedding head)
    unused: tuple[str, ...]
    #: how the input is normalised, in words (the numbers are the backbone's ``normalisation``)
    normalisation: str


def _drive(file_id: str) -> str:
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


_CYDONIA = "https://github.com/cydonia999/VGGFace2-pytorch#pretrained-models"
_FACENET = "https://github.com/timesler/facenet-pytorch/releases/tag/v2.2.9"
_BGR = ("BGR, 0..255, per-channel mean (91.4953, 103.8827, 131.0912) subtracted, no scaling (the Caffe "
        "VGGFace2 models')")
_FIXED = "RGB, (x - 127.5) / 128 on 0..255 (facenet-pytorch's fixed_image_standardization)"
PUBLISHED: dict[tuple[str, str], FaceWeights] = {
    ("resnet50", "vggface2"): FaceWeights(
        "resnet50", "vggface2", "resnet50_ft_weight.pkl", _drive("1A94PAAnwk6L7hXdBXLFosB_s0SzEhAFU"), _CYDONIA,
        "VGGFace2 ResNet-50 (resnet50_ft: MS-Celeb-1M, then fine-tuned on VGGFace2), Caffe model converted by "
        "cydonia999/VGGFace2-pytorch", ("fc.",), _BGR),
    ("resnet50", "vggface2-scratch"): FaceWeights(
        "resnet50", "vggface2-scratch", "resnet50_scratch_weight.pkl", _drive("1gy9OJlVfBulWkIEnZhGpOLu084RgHw39"),
        _CYDONIA, "VGGFace2 ResNet-50 (resnet50_scratch: VGGFace2 alone), converted by cydonia999/VGGFace2-pytorch",
        ("fc.",), _BGR),
    ("inception-resnet-v1", "vggface2"): FaceWeights(
        "inception-resnet-v1", "vggface2", "20180402-114759-vggface2.pt",
        "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt", _FACENET,
        "facenet-pytorch InceptionResnetV1 trained on VGGFace2 (David Sandberg's facenet 20180402-114759)",
        ("last_linear.", "last_bn.", "logits."), _FIXED),
    ("inception-resnet-v1", "casia-webface"): FaceWeights(
        "inception-resnet-v1", "casia-webface", "20180408-102900-casia-webface.pt",
        "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180408-102900-casia-webface.pt",
        _FACENET, "facenet-pytorch InceptionResnetV1 trained on CASIA-WebFace (facenet 20180408-102900)",
        ("last_linear.", "last_bn.", "logits."), _FIXED),
}


def published_for(backbone: str, tag: str) -> FaceWeights:
    """The published weights ``tag`` of ``backbone``; a tag the backbone has none for is named with those it has."""
    found = PUBLISHED.get((backbone, tag))
    if found is None:
        offers = [f"{b} ({t})" for b, t in PUBLISHED if t == tag] or [f"{b} ({t})" for b, t in PUBLISHED]
        raise PretrainedWeightsError(f"no published {tag!r} face-recognition weights for backbone {backbone!r}; "
                                     f"they exist for {', '.join(offers)}")
    return found


def _facenet_folder() -> Path:
    """Where facenet-pytorch itself caches its weights (``$TORCH_HOME/checkpoints``, no ``hub``)."""
    home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(home).expanduser() / "checkpoints"


def _cached(spec: FaceWeights) -> Path | None:
    """The published file where it already is: the torch hub cache, or (inception-resnet-v1) facenet-pytorch's
    own cache."""
    places = [hub_checkpoints()] + ([_facenet_folder()] if spec.backbone == "inception-resnet-v1" else [])
    return next((folder / spec.file for folder in places if (folder / spec.file).is_file()), None)


def weights_file(spec: FaceWeights, value: str) -> Path:
    """The local file of ``model.pretrained`` ``value`` (``vggface2`` or ``vggface2:PATH``), fetched into the
    torch hub cache when it is not there and downloads are on."""
    _, given = split_face_tag(value) or (value, None)
    if given is not None:
        if not given.is_file():
            raise PretrainedWeightsError(f"{value}: no such file {given} (the {spec.what}; {spec.page})")
        return given
    cached = _cached(spec)
    if cached is not None:
        return cached
    folder = hub_checkpoints()
    path = folder / spec.file
    if offline():
        raise PretrainedWeightsError(
            f"pretrained weights {spec.backbone} {spec.tag}: {spec.file} is not in the torch hub cache {folder} and "
            f"downloads are off (HF_HUB_OFFLINE=1); download it from {spec.page} and put it at {path}, or pass "
            f"model.pretrained={spec.tag}:/path/to/{spec.file}"
        )
    return _fetch(spec, path)


def weights_problem(backbone: str, value: str | None) -> str:
    """Why face-recognition weights ``value`` cannot be had for ``backbone`` now ("" when they can, or when
    ``value`` is no face-recognition tag): a suite skips such a row with this reason instead of failing it."""
    face = split_face_tag(value)
    if face is None:
        return ""
    try:
        spec = published_for(backbone, face[0])
    except PretrainedWeightsError as error:
        return str(error)
    if face[1] is not None:
        return "" if face[1].is_file() else f"initial weights {face[1]} not found ({spec.what}; {spec.page})"
    if _cached(spec) is not None or not offline():
        return ""
    return (f"{spec.file} is not in the torch hub cache {hub_checkpoints()} and downloads are off (HF_HUB_OFFLINE=1); "
            f"download it from {spec.page} and put it there")


def _fetch(spec: FaceWeights, path: Path) -> Path:
    """Download ``spec`` to ``path``, keeping it only when it is a pickle or a torch file (a file host's web
    page, such as a quota notice, is removed and named)."""
    partial = path.with_name(f".{path.name}.download")
    try:
        download(spec.url, partial)
    except Exception as error:  # urllib's and http's errors have no common base below Exception
        partial.unlink(missing_ok=True)
        raise PretrainedWeightsError(f"pretrained weights {spec.backbone} {spec.tag}: the download of {spec.url} "
                                     f"failed ({error}); download {spec.file} from {spec.page} and put it at "
                                     f"{path}") from None
    if file_format(partial) == "unknown":
        partial.unlink(missing_ok=True)
        raise PretrainedWeightsError(f"pretrained weights {spec.backbone} {spec.tag}: {spec.url} answered with "
                                     f"something other than a weights file (a web page: a quota or sign-in "
                                     f"notice?); download {spec.file} from {spec.page} by hand and put it at {path}")
    os.replace(partial, path)
    return path


def file_format(path: Path) -> str:
    """``torch`` (a zip archive or a legacy torch file), ``pickle`` (a plain pickle) or ``unknown``, by content."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "torch"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        # a legacy torch file starts with a pickled magic number (a long integer); a weights pickle with a dict
        return "torch" if head[2:3] == b"\x8a" else "pickle"
    if head.startswith((b"(dp", b"ccollections")):  # protocol 0, as Python 2's pickle.dump writes by default
        return "pickle"
    return "unknown"


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors in a weights file, as a flat ``{name: tensor}``, read without running code from it."""
    kind = file_format(path)
    if kind == "pickle":
        arrays = load_array_pickle(path)
        return {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in arrays.items()}
    if kind == "torch":
        state = load_torch(path)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise PretrainedWeightsError(f"{path}: expected a state dict (names to tensors)")
        return {k.removeprefix("module."): v for k, v in state.items()}
    raise PretrainedWeightsError(f"{path}: neither a pickle of numpy arrays nor a torch file (it starts with "
                                 f"{open(path, 'rb').read(8)!r})")


_CAFFE_BLOCK = re.compile(r"^conv(\d)_(\d+)_(1x1_reduce|3x3|1x1_increase|1x1_proj)(_bn)?\.(.+)$")
_CAFFE_LAYER = {"1x1_reduce": ("conv1", "bn1"), "3x3": ("conv2", "bn2"), "1x1_increase": ("conv3", "bn3"),
                "1x1_proj": ("downsample.0", "downsample.1")}


def torchvision_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ResNet state dict under torchvision's names: Caffe names (``conv2_1_1x1_reduce_bn.weight``, the
    MatConvNet conversions') become ``layer1.0.bn1.weight``; torchvision names pass unchanged."""
    out = {}
    for name, tensor in state.items():
        match = _CAFFE_BLOCK.match(name)
        if match:
            stage, block, layer, bn, rest = match.groups()
            module = _CAFFE_LAYER[layer][1 if bn else 0]
            name = f"layer{int(stage) - 1}.{int(block) - 1}.{module}.{rest}"
        elif name.startswith("conv1_7x7_s2_bn."):
            name = "bn1." + name.removeprefix("conv1_7x7_s2_bn.")
        elif name.startswith("conv1_7x7_s2."):
            name = "conv1." + name.removeprefix("conv1_7x7_s2.")
        elif name.startswith("classifier."):
            name = "fc." + name.removeprefix("classifier.")
        out[name] = tensor
    return out


@dataclass
class LoadReport:
    """What loading face-recognition weights into a backbone did, for the console and ``pretrained.json``."""

    backbone: str
    tag: str
    file: str
    what: str
    loaded_tensors: int
    loaded_parameters: int
    #: names in the file the backbone does not use (the identity classifier), with their shapes
    not_loaded: dict[str, list[int]] = field(default_factory=dict)
    #: the backbone's own entries the file has no value for (batch norm's step counters), left as built
    left_as_built: list[str] = field(default_factory=list)
    normalisation: str = ""
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def lines(self) -> list[str]:
        unused = ", ".join(f"{name} {tuple(shape)}" for name, shape in self.not_loaded.items()) or "none"
        return [
            f"pretrained {self.backbone} {self.tag}: {self.file} ({self.what})",
            f"  loaded {self.loaded_tensors} tensors ({self.loaded_parameters:,} values), every layer name and shape "
            f"checked; not loaded (the backbone has no use for them): {unused}",
            f"  left as built: {len(self.left_as_built)} batch-norm step counters" if self.left_as_built else
            "  left as built: nothing",
            f"  input: {self.normalisation}",
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_checked(target: nn.Module, state: dict[str, torch.Tensor], spec: FaceWeights, path: Path) -> LoadReport:
    """Copy ``state`` into ``target`` after checking that every weight of ``target`` is in it with its shape;
    entries under ``spec.unused`` prefixes are reported as not loaded, anything else unexpected is an error."""
    expected = target.state_dict()
    optional = [k for k in expected if k.endswith("num_batches_tracked")]
    unused = {k: list(v.shape) for k, v in state.items() if k not in expected and k.startswith(spec.unused)}
    mismatch = state_mismatch(expected, state, optional=optional, ignored=unused)
    if mismatch:
        raise PretrainedWeightsError(f"{path}: does not fit the {spec.backbone} backbone ({spec.what}): "
                                     f"{mismatch.describe()}")
    loaded = {k: v.to(expected[k].dtype) for k, v in state.items() if k in expected}
    target.load_state_dict(loaded, strict=False)
    return LoadReport(spec.backbone, spec.tag, str(path), spec.what, len(loaded),
                      sum(int(v.numel()) for v in loaded.values()), unused,
                      [k for k in optional if k not in state], spec.normalisation)


__all__ = ["FACE_TAGS", "FaceWeights", "LoadReport", "PUBLISHED", "VGGFACE2_MEAN_BGR", "file_format",
           "load_checked", "published_for", "read_state", "torchvision_names", "weights_file", "weights_problem"]
