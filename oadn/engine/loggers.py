"""Per-epoch loggers besides ``history.jsonl`` (``train.loggers``): the figures researchers watch in the tools
they know. ``tensorboard`` writes the standard ``SummaryWriter`` event files into ``<run>/tensorboard``: every
number of an epoch's row (losses, learning rate, validation accuracies, seconds) under its own tag, by epoch."""

from __future__ import annotations

import numbers
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

from oadn.config import ConfigError, RunConfig


class EpochLogger(Protocol):
    def log(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class TensorBoardLogger:
    """SummaryWriter events in ``<run>/tensorboard``; a resumed run drops events after its last checkpoint."""

    def __init__(self, run_dir: Path, first_epoch: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"), purge_step=first_epoch + 1)

    def log(self, row: dict[str, Any]) -> None:
        epoch = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch" and isinstance(value, numbers.Real):
                self.writer.add_scalar(key.replace("val_", "val/", 1) if key.startswith("val_") else f"train/{key}",
                                       float(value), epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def check_loggers(config: RunConfig) -> None:
    """A ConfigError, before training, for a logger whose package is not installed."""
    if "tensorboard" in config.train.loggers and find_spec("tensorboard") is None:
        raise ConfigError("config.train.loggers: tensorboard needs the tensorboard package: "
                          "pip install 'oadn-bench[tensorboard]' (or pip install tensorboard)")


def make_loggers(config: RunConfig, run_dir: Path, first_epoch: int) -> list[EpochLogger]:
    return [TensorBoardLogger(run_dir, first_epoch) for name in config.train.loggers if name == "tensorboard"]
