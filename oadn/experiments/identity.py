"""Run identity: a run directory is keyed by a short hash of its resolved configuration.

Two requests are the same run exactly when their resolved configurations are equal once the keys whose role
is LOCATION (where data and caches live, worker count, device, evaluation batch size) or LABEL (the display
``name``) are left out (the roles are declared in :mod:`oadn.config`); so an edited suite or a new ``--set``
always starts a new run and never silently reuses a stale one.

The hash survives upgrades. It is taken over the configuration in the layout of format 1 (:func:`identity_values`):
OADN's settings beside every method (a method that does not take one carries it at its format-1 default, a
constant), a method's other options under ``model.options`` where they differ from their neutral value, and a key
added after format 1 only where it differs from the value every earlier run used (``oadn.config.ADDED_KEYS``). A
setting that reproduces what the code did before it existed therefore never moves a finished run's hash.

The root path is not part of the identity, but the data's content is: a run on disk is the same only when its
recorded data fingerprints (``data.json``: image names, labels and pixels) equal those of the data asked for (a
record from before pixels were digested is matched on names and labels); the same configuration on other data gets a
directory of its own (``seed<k>-<hash>-data<8 hex>``). A run from before fingerprints were recorded matches any
data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from oadn.config import (
    ADDED_KEYS,
    FORMAT1_MODEL_KEYS,
    LABEL,
    LOCATION,
    MODEL_KEYS,
    ConfigError,
    RunConfig,
    config_to_dict,
    keys_with_role,
    load_yaml,
    option_neutral,
    options_class,
    run_config_from_dict,
)
from oadn.data.fingerprint import same_splits
from oadn.engine.run_dir import load_data_record

#: dotted keys left out of a run's identity: where things are (LOCATION) and its display name (LABEL)
NOT_IDENTITY_KEYS = keys_with_role(LOCATION, LABEL, method=None)
#: the configuration format whose keys all enter the hash as they are; keys added later enter where they differ
#: from their ADDED_KEYS value
HASHED_AS_IS_UNTIL = 1


def _drop(values: dict[str, Any], key: str) -> Any:
    """Remove dotted ``key`` from nested ``values``; its value (None when absent)."""
    *parents, leaf = key.split(".")
    node = values
    for part in parents:
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node.pop(leaf, None) if isinstance(node, dict) else None


def _format1_layout(model: dict[str, Any]) -> dict[str, Any]:
    """A model section as format 1 laid it out: OADN's settings beside every method (those the method does not
    take at their format-1 defaults), the method's other options under ``options`` where not neutral."""
    schema = options_class(model["name"])
    owned = {item.name: item for item in dataclasses.fields(schema)}
    out = {key: model[key] for key in MODEL_KEYS}
    out.update({key: model.get(key, default) if key in owned else default
                for key, default in FORMAT1_MODEL_KEYS.items()})
    out["options"] = {key: model[key] for key, item in owned.items()
                      if key not in FORMAT1_MODEL_KEYS and model[key] != option_neutral(item)}
    return out


def identity_values(config: RunConfig) -> dict[str, Any]:
    """What a run's identity is taken over: the configuration in format 1's layout, without LOCATION and LABEL
    keys, and without keys added after format 1 that hold the value every earlier run used."""
    values = json.loads(json.dumps(config_to_dict(config), default=str))
    values["model"] = _format1_layout(values["model"])  # a method's options: left out at their neutral value
    for key, (version, before) in ADDED_KEYS.items():
        if (version > HASHED_AS_IS_UNTIL and not key.startswith("model.")
                and _value(values, key) == json.loads(json.dumps(before, default=str))):
            _drop(values, key)
    for key in NOT_IDENTITY_KEYS:
        _drop(values, key)
    return values


def _value(values: dict[str, Any], key: str) -> Any:
    node: Any = values
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


_ABSENT = object()


def config_hash(config: RunConfig) -> str:
    """Eight hex digits of the SHA-256 of the identity values (keys sorted)."""
    text = json.dumps(identity_values(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def folder_name(text: str) -> str:
    """A display name (an experiment id, a method) as the folder of its runs under the runs root: characters
    other than letters, digits and ._+- become '-' (case kept; figures use :func:`oadn.report.figure_names.slug`)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "run"


def saved_identity(run_dir: Path) -> dict[str, Any] | None:
    """The identity values of the run at ``run_dir`` as this version reads its config.yaml (an older format's
    too); None without a readable one."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    try:
        return identity_values(run_config_from_dict(load_yaml(path), str(path)))
    except ConfigError:  # a run this version cannot read (a plugin's method not loaded, a key it lacks): not it
        return None


def same_data(run_dir: Path, data: dict[str, Any] | None) -> bool:
    """Whether the run at ``run_dir`` saw the data of record ``data`` (see :func:`oadn.engine.run_dir.data_record`)."""
    recorded = load_data_record(run_dir)
    return data is None or recorded is None or same_splits(recorded.get("splits") or {}, data["splits"])


def find_run(runs_root: Path, config: RunConfig, data: dict[str, Any] | None = None) -> Path | None:
    """An existing run directory under ``runs_root`` whose saved configuration has the same identity and which
    saw the same data (``data``: the record a new run would write; None for generated data)."""
    digest = config_hash(config)
    wanted = identity_values(config)
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
