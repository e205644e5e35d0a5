"""Run configuration as dataclasses, loaded from small YAML files with dotted command-line overrides.

A run is fully described by one :class:`RunConfig`; it is written, resolved, into every run directory so that a
result can always be traced to the exact settings that produced it. Overrides look like
``train.lr=0.01`` or ``model.regions=9`` and are parsed as YAML scalars/lists.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range; the message names the key."""


@dataclass
class DataConfig:
    """Which data set, which protocol options, and how faces are loaded."""

    name: str = "synthetic"
    root: str | None = None
    #: protocol options passed to the adapter's constructor (label mode, class count, synthetic sizes, ...)
    options: dict[str, Any] = field(default_factory=dict)
    #: options passed to ``open_split`` (e.g. prepared-cache location, failed-image policy)
    split_options: dict[str, Any] = field(default_factory=dict)
    image_size: int = 224
    train_split: str = "train"
    #: a split of the data set used for model selection; None carves ``val_fraction`` off the training split
    val_split: str | None = None
    val_fraction: float = 0.1
    test_splits: list[str] = field(default_factory=lambda: ["test"])
    hflip: bool = True
    balanced_sampler: bool = False
    #: loader worker processes: a count, or "auto" (with a GPU: this process's share of the cores less one, at
    #: most 12; without: 0)
    num_workers: int | str = "auto"
    #: what to do with an image that cannot be read during training/evaluation: "skip" (recorded) or "fail"
    on_bad_image: str = "skip"


@dataclass
class ModelConfig:
    """Method and backbone; OADN's hyper-parameters carry the paper's names (T, K, lambda)."""

    name: str = "oadn"
    backbone: str = "resnet50"
    #: local file with backbone weights (state dict); nothing is ever downloaded
    pretrained: str | None = None
    threshold: float = 0.6  # T
    regions: int = 4  # K
    lam: float = 0.5  # lambda: weight of the attention branch's loss
    sigma: float = 1.0  # attention Gaussian's standard deviation, in feature cells
    embed_dim: int = 256


@dataclass
class TrainConfig:
    """Optimisation; defaults are the paper's (SGD, 60 epochs, lr 0.1 "decreased by 10 after 20 epochs").

    That phrase over 60 epochs is read as a drop every 20 epochs: milestones 20 and 40.
    """

    epochs: int = 60
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_milestones: list[int] = field(default_factory=lambda: [20, 40])
    lr_gamma: float = 0.1
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"
    #: bf16 autocast and channels_last, used on CUDA only
    amp: bool = True
    #: metric on the validation split that picks the checkpoint evaluated on test
    select_metric: str = "mean_class_accuracy"
    eval_batch_size: int = 256
    #: torch.compile the training step: true, false, "auto" (on CUDA only; it pays there, see README), or a
    #: torch.compile mode (default, reduce-overhead = CUDA graphs, max-autotune, max-autotune-no-cudagraphs)
    compile: bool | str = "auto"


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = "run"


def _from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(known)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if cls is RunConfig and key in _NESTED:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping, got {value!r}")
            kwargs[key] = _from_dict(_NESTED[key], value, f"{where}.{key}")
        else:
            kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """``value`` checked against a field's annotation; a YAML string such as ``1e-3`` becomes the float it means."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, e.g. [a, b], got {value!r}")
        return [_coerce(item, args[0] if args else Any, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, e.g. {{key: value}}, got {value!r}")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return number
    elif annotation is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{where}: expected {_type_name(annotation)}, got {value!r} ({type(value).__name__})")


_NESTED = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def config_from_dict(values: dict[str, Any], where: str = "config") -> RunConfig:
    """Build a RunConfig from a nested mapping, rejecting unknown keys, wrong types and values out of range."""
    from oadn.config_checks import check_ranges

    config = _from_dict(RunConfig, values or {}, where)
    check_ranges(config, where)
    return config


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``a.b.c=value`` -> {"a": {"b": {"c": value}}}, with value parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. train.lr=0.01")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {text!r}: empty key component")
    try:
        value: Any = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"override {text!r}: the value is not valid YAML ({problem}); a mapping is written "
            "{key: value, other: value}, a list [a, b]"
        ) from err
    for part in reversed(parts):
        value = {part: value}
    return value


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; errors name the file and line."""
    try:
        with open(path) as fh:
            values = yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {getattr(err, 'problem', err)}") from err
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at top level, got {type(values).__name__}")
    return values


def build_config(
    files: Iterable[Path] = (), overrides: Iterable[str] = (), base: dict[str, Any] | None = None
) -> RunConfig:
    """Defaults, then ``base``, then each YAML file in order, then each ``key=value`` override."""
    values: dict[str, Any] = dict(base or {})
    for path in files:
        values = merge(values, load_yaml(Path(path)))
    for text in overrides:
        values = merge(values, parse_override(text))
    return config_from_dict(values)


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
