"""The one network rule: weights are downloaded into their standard caches only when downloads are on.

``HF_HUB_OFFLINE=1`` (the Hugging Face switch, which the tests set) turns every download off, for timm's weights
and for face-alignment's FAN weights alike; then a missing file is an error naming the file and its folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


def offline() -> bool:
    """True when downloads are switched off (``HF_HUB_OFFLINE``), read now rather than at import."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().upper() in ("1", "ON", "YES", "TRUE")
    return bool(constants.HF_HUB_OFFLINE)


def hub_checkpoints() -> Path:
    """``$TORCH_HOME/hub/checkpoints``, where torch, timm's URL weights and face-alignment keep downloaded files."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def download(url: str, path: Path) -> Path:
    """Fetch ``url`` to ``path`` (torch's downloader writes a temporary file and renames it: no half files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(path), progress=True)
    return path
