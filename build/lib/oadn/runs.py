"""The run directory: everything a result needs to be trusted and reproduced, written so nothing is half-saved.

    <run>/config.yaml        resolved configuration
    <run>/checkpoint.pt      last completed epoch: model, optimiser, scheduler, history (atomic replace)
    <run>/best.pt            weights of the epoch chosen on the validation split
    <run>/history.jsonl      one line of training/validation figures per epoch
    <run>/metrics.json       final metrics per test split and per branch
    <run>/predictions/<split>.parquet   per-image labels, predictions and scores
    <run>/bad_images.csv     images skipped because they could not be read
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from oadn.config import RunConfig, config_from_dict, config_to_dict


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_torch(obj: Any, path: Path) -> None:
    """torch.save that never leaves a truncated file behind (write to a temp file, then rename)."""
    _atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_json(obj: Any, path: Path) -> None:
    _atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def save_parquet(frame: pd.DataFrame, path: Path) -> None:
    _atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def save_config(config: RunConfig, run_dir: Path) -> None:
    _atomic_write(
        run_dir / "config.yaml", lambda tmp: Path(tmp).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    )


def load_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a run directory (no config.yaml)")
    return config_from_dict(yaml.safe_load(path.read_text()) or {}, where=str(path))


def append_jsonl(row: dict[str, Any], path: Path) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def load_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run has no final metrics (unfinished? resume it with --resume)")
    return json.loads(path.read_text())
