"""The run directory: everything a result needs to be trusted and reproduced, written so nothing is half-saved.

    <run>/config.yaml        resolved configuration
    <run>/checkpoint.pt      last completed epoch: model, optimiser, scheduler, history (atomic replace)
    <run>/best.pt            weights of the epoch chosen on the validation split
    <run>/history.jsonl      one line of training/validation figures per epoch
    <run>/metrics.json       final metrics per test split and per branch
    <run>/predictions/<split>.parquet   per-image labels, predictions and scores
    <run>/bad_images.csv     images skipped because they could not be read (header only when none)
    <run>/resume_changes.jsonl   settings changed on purpose when the run was resumed
    <run>/data.json          fingerprints of the data it trained, validated and was tested on (on-disk data sets)
    <run>/.lock              held while a process trains the run (:class:`RunLock`)

Every file is written atomically (:mod:`oadn.common.files`), with the user's usual permissions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from oadn.common.commands import command_line
from oadn.common.files import TEMPORARY_GLOB, atomic_write, read_json
from oadn.common.locks import FolderLock, FolderLockedError
from oadn.config import RunConfig, config_to_dict, load_yaml, run_config_from_dict
from oadn.engine import distributed


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files an interrupted atomic write left in ``run_dir`` (call under the run lock)."""
    run_dir = Path(run_dir)
    folders = [folder for folder in (run_dir, run_dir / "predictions") if folder.is_dir()]
    leftovers = [path for folder in folders for path in folder.glob(TEMPORARY_GLOB)]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def save_config(config: RunConfig, run_dir: Path) -> None:
    atomic_write(
        run_dir / "config.yaml",
        lambda tmp: Path(tmp).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    )


def load_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a run directory (no config.yaml)")
    return run_config_from_dict(load_yaml(path), where=str(path))


def append_jsonl(row: dict[str, Any], path: Path) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def load_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run has no final metrics (unfinished? resume it with --resume)")
    return read_json(path, f"remove it and run `{command_line('oadn-bench', 'train', '--resume', run_dir)}`: the test "
                           f"splits are scored again from best.pt")


DATA_RECORD = "data.json"


def splits_read(config: RunConfig) -> list[str]:
    """The splits a run reads: training, the protocol's validation split (if any), the test splits."""
    data = config.data
    return list(dict.fromkeys([data.train_split, *([data.val_split] if data.val_split else []), *data.test_splits]))


def data_record(config: RunConfig, fingerprints: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``data.json`` holds for a run of ``config`` on data with ``fingerprints`` (None: generated data)."""
    if fingerprints is None:
        return None
    return {"dataset": config.data.name, "splits": {s: fingerprints.get(s) for s in splits_read(config)}}


def load_data_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's recorded data fingerprints; None for generated data or a run from before they were recorded."""
    path = Path(run_dir) / DATA_RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path}: damaged ({error}); it records which data the run saw: restore it from a "
                         f"backup, or move the run away and train it again") from None


class BadImageLog:
    """Unreadable images met during the run, de-duplicated and kept in ``bad_images.csv``."""

    COLUMNS = ["split", "image_id", "path", "reason"]

    def __init__(self, path: Path):
        self.path = path
        frame = pd.read_csv(path, dtype=str) if path.is_file() else pd.DataFrame(columns=self.COLUMNS)
        self.rows = {(r.split, r.image_id): r._asdict() for r in frame[self.COLUMNS].itertuples(index=False)}
        self._unshared: list[dict[str, str]] = []  # met by this rank since the last gather_ranks

    def add(self, split: str, records: list[tuple[str, str, str]]) -> None:
        for image_id, path, reason in records:
            if (split, image_id) not in self.rows:
                self.rows[(split, image_id)] = dict(split=split, image_id=image_id, path=path, reason=reason)
                self._unshared.append(self.rows[(split, image_id)])

    def gather_ranks(self) -> None:
        """Add the records every other rank met since the last call (a training image is read by one rank only);
        one collective, carrying new records only."""
        for rows in distributed.gather_objects(self._unshared):
            for row in rows:
                self.rows.setdefault((row["split"], row["image_id"]), row)
        self._unshared = []

    def flush(self) -> None:
        """Write the file even when empty (header only), so every run directory has one."""
        pd.DataFrame(list(self.rows.values()), columns=self.COLUMNS).to_csv(self.path, index=False)


class RunLockedError(FolderLockedError):
    """Another live process is training or resuming this run directory."""


class RunLock(FolderLock):
    """``with RunLock(run_dir):`` holds the run directory for this process (:class:`oadn.common.locks.FolderLock`):
    two processes training the same run would overwrite each other's checkpoints."""

    error = RunLockedError

    def __init__(self, run_dir: Path):
        super().__init__(run_dir, "a second process would overwrite its checkpoints")
