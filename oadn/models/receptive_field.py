"""Where a backbone's feature cells see: the centre of each cell's receptive field, measured by a gradient.

OADN renders its attention maps at feature resolution, so it must know which cell a landmark at pixel (x, y)
falls on. That depends on padding and pooling, not only on the stride: cell j of a zero-padded stride-2 ResNet
is centred at stride * j pixels, of a max-pooled CNN without padding at stride * j + (stride - 1) / 2. Each
registered backbone declares its grid; ``timm:`` backbones, whose designs vary, are measured when built.

The measurement: a copy of the network made linear and symmetric (every convolution's kernel constant, batch
norm the identity, layer and group norm removed, max pooling replaced by average pooling over the same window,
biases zero), so the gradient of one cell's output with respect to the input is that cell's receptive field,
weighted by its number of paths; its centroid is the cell's centre. A cell near the middle of an input large
enough for the field keeps the zero padding's truncation symmetric.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from oadn.data.geometry import CellGrid


def _linearised(module: nn.Module) -> nn.Module:
    """A float32 copy in eval mode whose layers average instead of computing features (see the module docstring)."""
    probe = copy.deepcopy(module).float().eval()
    for name, layer in list(probe.named_modules()):
        if isinstance(layer, nn.MaxPool2d):
            parent_name, _, child = name.rpartition(".")
            parent = probe.get_submodule(parent_name) if parent_name else probe
            setattr(parent, child, nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode))
        elif isinstance(layer, (nn.LayerNorm, nn.GroupNorm)):  # normalising a constant input would zero it
            parent_name, _, child = name.rpartition(".")
            parent = probe.get_submodule(parent_name) if parent_name else probe
            setattr(parent, child, nn.Identity())
        elif isinstance(layer, (nn.Conv2d, nn.Linear)):
            fan_in = layer.weight[0].numel()
            nn.init.constant_(layer.weight, 1.0 / fan_in)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.reset_running_stats()
            if layer.affine:
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)
    return probe


def cell_centroid(module: nn.Module, image_size: int, cell: tuple[int, int]) -> tuple[float, float]:
    """(x, y) image pixels at the centroid of feature cell ``cell``'s (row, col) receptive field, on an
    ``image_size`` square input."""
    probe = _linearised(module)
    image = torch.ones(1, 3, image_size, image_size, dtype=torch.float32, requires_grad=True)
    features = probe(image)
    features[0, :, cell[0], cell[1]].sum().backward()
    weight = image.grad[0].abs().sum(dim=0)
    coords = torch.arange(image_size, dtype=torch.float32)
    mass = weight.sum()
    if not torch.isfinite(mass) or mass <= 0:
        raise ValueError(f"cannot measure where this backbone's feature cells see: the gradient of cell {cell} "
                         f"is {float(mass)} (a layer the linearised copy does not cover)")
    return float((weight.sum(dim=0) * coords).sum() / mass), float((weight.sum(dim=1) * coords).sum() / mass)


def measure_grid(module: nn.Module, stride: int, cells: int = 12, *, stride_known: bool = False) -> CellGrid:
    """The backbone's cell grid, measured at the middle cell of a ``cells`` x ``cells`` map. The stride is the
    input's side over the map's unless ``stride_known``: unpadded convolutions and ceil-mode pooling leave a map a
    few cells short, so the ratio is not the stride there. The offset is kept to 3 decimals, the gradient
    centroid's float noise dropped."""
    image_size = stride * cells
    with torch.no_grad():
        side = _linearised(module)(torch.ones(1, 3, image_size, image_size, dtype=torch.float32)).shape[-1]
    step = float(stride) if stride_known else image_size / side
    middle = side // 2
    x, y = cell_centroid(module, image_size, (middle, middle))
    return CellGrid(stride=step, offset=round((x + y) / 2 - step * middle, 3) + 0.0)  # + 0.0: no -0.0


#: architecture name -> its measured cell grid, once per process (a grid depends on the architecture only)
_GRIDS: dict[str, CellGrid] = {}


def measured_grid(name: str, module: nn.Module, stride: int, *, stride_known: bool = False) -> CellGrid:
    """:func:`measure_grid` for architecture ``name``, measured the first time it is built in this process."""
    if name not in _GRIDS:
        _GRIDS[name] = measure_grid(module, stride, stride_known=stride_known)
    return _GRIDS[name]
