"""face-alignment's 2D-FAN: 68 points whose score is the heatmap peak (clipped to [0, 1]).

Weights come from ``--fan-weights PATH`` or from the torch hub cache (``$TORCH_HOME/hub/checkpoints``), where
face-alignment puts them; when neither holds them, the TorchScript file face-alignment itself downloads for
current torch versions is fetched there on first use, unless downloads are off (``HF_HUB_OFFLINE=1``; see
:mod:`oadn.common.downloads`). The file's sha256 goes into the cache's landmarker description. Two formats load:
- TorchScript archives (``2DFAN4-cd938726ad.zip``, face-alignment 1.0-1.4), run as they are;
- state dicts (``2DFAN4-11f355bf06.pth.tar``, face-alignment 1.5+), loaded into :class:`~.fan_net.FAN`.
The face is cropped as face-alignment does from a detector box: centre moved up by 0.12 of the box height,
side 200 * (width + height) / 195 pixels, resampled to 256 x 256; heatmaps are 64 x 64.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from oadn.common.downloads import download, hub_checkpoints, offline
from oadn.data.landmarks.base import (
    ALIGNED_CROP_BOX,
    ImageLandmarkBackend,
    LandmarkBackend,
    LandmarkBackendError,
    register_landmark_backend,
)
from oadn.data.landmarks.fan_net import FAN

CHECKPOINT_NAMES = ("2DFAN4-cd938726ad.zip", "2DFAN4-11f355bf06.pth.tar")
DOWNLOAD_BASE = "https://www.adrianbulat.com/downloads/python-fan/"
CROP_SIZE = 256
HEATMAP_SIZE = 64
_CENTER_SHIFT, _REFERENCE_SCALE, _SCALE_FACTOR = 0.12, 195.0, 200.0


def default_weight_paths() -> list[Path]:
    """Where face-alignment caches FAN weights: ``$TORCH_HOME/hub/checkpoints/<name>``."""
    return [hub_checkpoints() / name for name in CHECKPOINT_NAMES]


def resolve_weights(weights: Path | None) -> Path:
    """The weights file to use: the given one, a cached one, or face-alignment's downloaded when online; else an
    error saying exactly which file to put where."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise LandmarkBackendError(f"--fan-weights {path}: file not found")
        return path
    candidates = default_weight_paths()
    for path in candidates:
        if path.is_file():
            return path
    url = DOWNLOAD_BASE + CHECKPOINT_NAMES[0]
    where = (f"Put face-alignment's 2D-FAN file {CHECKPOINT_NAMES[0]} (from {url}) in {candidates[0].parent}, or "
             f"{CHECKPOINT_NAMES[1]} (from {DOWNLOAD_BASE}{CHECKPOINT_NAMES[1]}), or pass --fan-weights PATH")
    if offline():
        raise LandmarkBackendError(f"FAN weights not found at {candidates[0]} and downloads are off "
                                   f"(HF_HUB_OFFLINE=1). {where}")
    try:
        return download(url, candidates[0])
    except Exception as err:  # noqa: BLE001 - any network or disk failure: say which file to put where
        raise LandmarkBackendError(f"FAN weights not found at {candidates[0]} and the download of {url} failed "
                                   f"({type(err).__name__}: {err}). {where}") from err


def load_fan(path: Path, device: str | torch.device) -> torch.nn.Module:
    """Load a TorchScript archive or a face-alignment state dict, in eval mode on ``device``."""
    try:
        if path.suffix == ".zip":
            model = torch.jit.load(str(path), map_location=device)
        else:
            state = torch.load(path, map_location=device, weights_only=True)
            state = state.get("state_dict", state)
            model = FAN(num_modules=sum(1 for k in state
                                        if k.startswith("l") and k.endswith(".weight") and k[1:-7].isdigit()))
            model.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 - any failure here means the file is not a FAN checkpoint
        raise LandmarkBackendError(f"{path}: not a loadable 2D-FAN checkpoint ({err})") from err
    return model.to(device).eval()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


@register_landmark_backend("fan")
class FanBackend(ImageLandmarkBackend):
    provides_scores = True

    @classmethod
    def from_spec(cls, argument: str, *, device: str = "cpu", fan_weights: Path | None = None) -> LandmarkBackend:
        if argument:
            raise LandmarkBackendError("--landmarks fan takes no argument (weights: --fan-weights), "
                                       f"got fan:{argument}")
        return cls(weights=fan_weights, device=device)

    def __init__(self, weights: Path | None = None, device: str | torch.device = "cpu", batch_size: int = 32):
        path = resolve_weights(weights)
        self.device = torch.device(device)
        self.batch_size = batch_size  # bounds activation memory (a 256-channel 64 x 64 map per stage and image)
        self.model = load_fan(path, self.device)
        self.description = f"2D-FAN {path.name} sha256:{_file_digest(path)}; scores = heatmap peaks"

    @torch.no_grad()
    def predict(self, images: np.ndarray, boxes: list[np.ndarray | None]) -> list[tuple[np.ndarray | None, str]]:
        size = images.shape[1]
        centres, sides = self._crop_geometry(boxes, size)
        pixels = torch.from_numpy(np.ascontiguousarray(images))
        parts = []
        for begin in range(0, len(images), self.batch_size):
            end = begin + self.batch_size
            crops = self._crop(pixels[begin:end].to(self.device), centres[begin:end], sides[begin:end])
            out = self.model(crops)
            parts.append(self._decode((out[-1] if isinstance(out, (list, tuple)) else out).float()))
        points = np.concatenate(parts)  # B x 68 x 3 in crop pixels
        k = (sides / CROP_SIZE)[:, None]
        points[..., 0] = (points[..., 0] - (CROP_SIZE - 1) / 2) * k + centres[:, None, 0]
        points[..., 1] = (points[..., 1] - (CROP_SIZE - 1) / 2) * k + centres[:, None, 1]
        return [(p.astype(np.float32), "") for p in points]

    @staticmethod
    def _crop_geometry(boxes: list[np.ndarray | None], size: int) -> tuple[np.ndarray, np.ndarray]:
        default = np.array(ALIGNED_CROP_BOX) * size
        b = np.stack([np.asarray(box if box is not None else default, dtype=np.float64) for box in boxes])
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        centres = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2 - _CENTER_SHIFT * h], axis=1)
        return centres, _SCALE_FACTOR * (w + h) / _REFERENCE_SCALE

    def _crop(self, images: torch.Tensor, centres: np.ndarray, sides: np.ndarray) -> torch.Tensor:
        """B x S x S x 3 uint8 -> B x 3 x 256 x 256 float in [0, 1], zero outside the image."""
        size = images.shape[1]
        u = torch.arange(CROP_SIZE, device=self.device, dtype=torch.float32) - (CROP_SIZE - 1) / 2
        k = torch.as_tensor(sides / CROP_SIZE, device=self.device, dtype=torch.float32)[:, None]
        c = torch.as_tensor(centres, device=self.device, dtype=torch.float32)
        gx = 2 * (u[None] * k + c[:, :1]) / (size - 1) - 1  # B x 256, source x normalised
        gy = 2 * (u[None] * k + c[:, 1:]) / (size - 1) - 1
        grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
        src = images.permute(0, 3, 1, 2).float() / 255.0
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    @staticmethod
    def _decode(heatmaps: torch.Tensor) -> np.ndarray:
        """Peak of each heatmap, refined a quarter pixel towards the higher neighbour, in 256-crop pixels."""
        b, n, h, w = heatmaps.shape
        flat = heatmaps.reshape(b, n, -1)
        peak, index = flat.max(dim=-1)
        px, py = index % w, index // w
        padded = F.pad(heatmaps, (1, 1, 1, 1), mode="replicate").reshape(b, n, -1)
        row = w + 2

        def at(dx: int, dy: int) -> torch.Tensor:
            return padded.gather(-1, ((py + 1 + dy) * row + px + 1 + dx)[..., None])[..., 0]

        fx = px.float() + 0.25 * torch.sign(at(1, 0) - at(-1, 0))
        fy = py.float() + 0.25 * torch.sign(at(0, 1) - at(0, -1))
        stride = CROP_SIZE / w
        points = torch.stack([fx * stride + (stride - 1) / 2, fy * stride + (stride - 1) / 2, peak.clamp(0, 1)], -1)
        return points.cpu().numpy().astype(np.float64)
