"""Run identity: a run directory is keyed by a short hash of its resolved configuration.

Two requests are the same run exactly when their resolved configurations are equal once the keys whose role
is LOCATION (where data and caches live, worker count, device, evaluation batch size) or LABEL (the display
``name``) are left out (the roles are declared in :mod:`oadn.config`); so an edited suite or a new ``--set``
always starts a new run and never silently reuses a stale one. The root path is not part of the identity, but
the data's content is: a run on disk is the same only when its recorded data fingerprints (``data.json``: image
names, labels and pixels) equal those of the data asked for (a record from before pixels were digested is matched on
names and labels); the same configuration on other data gets a directory of its own
(``seed<k>-<hash>-data<8 hex>``). A run from before fingerprints were recorded matches any data.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from oadn.config import LABEL, LOCATION, RunConfig, config_to_dict, keys_with_role, load_yaml
from oadn.data.fingerprint import same_splits
from oadn.engine.run_dir import load_data_record

#: dotted keys left out of a run's identity: where things are (LOCATION) and its display name (LABEL)
NOT_IDENTITY_KEYS = keys_with_role(LOCATION, LABEL)


def identity_dict(values: dict[str, Any]) -> dict[str, Any]:
    """The configuration mapping without its location-only keys."""
    out = json.loads(json.dumps(values, default=str))
    for key in NOT_IDENTITY_KEYS:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


def config_hash(config: RunConfig | dict[str, Any]) -> str:
    """Eight hex digits of the SHA-256 of the identity mapping (keys sorted)."""
    values = config_to_dict(config) if isinstance(config, RunConfig) else config
    text = json.dumps(identity_dict(values), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def slug(text: str) -> str:
    """A file-name-safe form of a display name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "run"


def saved_identity(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    return identity_dict(load_yaml(path))


def same_data(run_dir: Path, data: dict[str, Any] | None) -> bool:
    """Whether the run at ``run_dir`` saw the data of record ``data`` (see :func:`oadn.engine.run_dir.data_record`)."""
    recorded = load_data_record(run_dir)
    return data is None or recorded is None or same_splits(recorded.get("splits") or {}, data["splits"])


def find_run(runs_root: Path, config: RunConfig, data: dict[str, Any] | None = None) -> Path | None:
    """An existing run directory under ``runs_root`` whose saved configuration has the same identity and which
    saw the same data (``data``: the record a new run would write; None for generated data)."""
    digest = config_hash(config)
    wanted = identity_dict(config_to_dict(config))
    root = Path(runs_root)
    candidates = sorted(set(root.glob(f"**/*-{digest}")) | set(root.glob(f"**/*-{digest}-data*")))
    for candidate in candidates:
        if candidate.is_dir() and saved_identity(candidate) == wanted and same_data(candidate, data):
            return candidate
    return None


def new_run_dir(default: Path, data: dict[str, Any] | None) -> Path:
    """``default``, or, when a run of the same configuration on other data is there, ``default-data<8 hex>``."""
    if data is None or not (Path(default) / "config.yaml").is_file():
        return Path(default)
    digest = hashlib.sha256(json.dumps(data["splits"], sort_keys=True).encode()).hexdigest()[:8]
    return Path(default).with_name(f"{Path(default).name}-data{digest}")


def run_status(run_dir: Path | None) -> str:
    """new (no directory), reuse (final metrics present) or resume (started, no final metrics)."""
    if run_dir is None or not (Path(run_dir) / "config.yaml").is_file():
        return "new"
    return "reuse" if (Path(run_dir) / "metrics.json").is_file() else "resume"
