"""Run configuration as dataclasses, loaded from small YAML files with dotted command-line overrides.

A run is fully described by one :class:`RunConfig`; it is written, resolved, into every run directory so that a
result can always be traced to the exact settings that produced it. Overrides look like
``train.lr=0.01`` or ``model.regions=9`` and are parsed as YAML scalars/lists. Every value is range-checked
when a configuration is built, so a bad value stops a run before anything is written.

A method's own settings (OADN's T, K, lambda, sigma, pooling; RAN's crops and margin) are declared by the method
as a dataclass (``Options``, registered with the method) and written beside the model's name (``model.lam``); they
are typed and range-checked by the same rules as every other key, and only the method that declares them takes
them.

Each field declares its role beside it (:func:`role`); run identity, resume, evaluation and ablations at test
time read the roles from here (:func:`keys_with_role`) instead of keeping their own lists.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from oadn import __version__
from oadn.common import yaml_data
from oadn.common.errors import UsageError
from oadn.common.names import relative_path_problem
from oadn.common.registry import Registry

# What a setting is for. Every field has one (WEIGHTS unless it says otherwise); a mapping field may give some of
# its keys another (data.split_options.cache_dir is a LOCATION).
#: decides what is trained: part of a run's identity, fixed once training has started
WEIGHTS = "weights"
#: the optimiser's settings: part of the identity; may change on resume, and the restored optimiser is retuned
OPTIMISER = "optimiser"
#: how long training runs: part of the identity; may change on resume
DURATION = "duration"
#: acts in the forward pass only: part of the identity; a trained run may be scored under another value
#: (``evaluate --model-option``, ``ablate --at-test``) without retraining
TEST_TIME = "test-time"
#: where data, caches and compute are: not part of the identity; may change on resume
LOCATION = "location"
#: a display name: not part of the identity; fixed on resume
LABEL = "label"
ROLES = (WEIGHTS, OPTIMISER, DURATION, TEST_TIME, LOCATION, LABEL)

ON_BAD_IMAGE = ("skip", "fail")
#: train.optimizer: the paper's SGD (torch's, weight decay on every parameter) or AdamW (timm's factory, no decay
#: on biases and norms)
OPTIMIZERS = ("sgd", "adamw")
#: train.schedule: the paper's step decay (lr_milestones), or cosine / one-cycle with warm-up (per epoch)
SCHEDULES = ("step", "cosine", "onecycle")
#: torch.compile's modes, any of which train.compile takes (see oadn.engine.compiling)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SELECT_METRICS = ("accuracy", "mean_class_accuracy")
#: per-epoch loggers besides history.jsonl (see oadn.engine.loggers)
LOGGERS = ("tensorboard",)
#: the smallest input any backbone accepts; the exact bound for a backbone is checked against its stride
MIN_IMAGE_SIZE = 16


def role(kind: str, **keys: str) -> dict[str, Any]:
    """Field metadata declaring the field's role and, for a mapping field, the roles of some of its keys."""
    for name in (kind, *keys.values()):
        if name not in ROLES:
            raise ValueError(f"unknown role {name!r}; expected one of {', '.join(ROLES)}")
    return {"role": kind, "key_roles": keys}


class ConfigError(UsageError):
    """A configuration value that is unknown, of the wrong type or out of range; the message names the key (exit 2
    on the command line)."""


@dataclass
class DataConfig:
    """Which data set, which protocol options, and how faces are loaded."""

    name: str = "synthetic"
    #: the user's copy of the data set (a folder, or a file made by ``oadn-bench pack``)
    root: str | None = field(default=None, metadata=role(LOCATION))
    #: protocol options passed to the adapter's constructor (label mode, class count, synthetic sizes, ...)
    options: dict[str, Any] = field(default_factory=dict)
    #: options passed to ``open_split`` (failed-image policy, landmark backend; ``cache_dir``: where the prepared
    #: cache is)
    split_options: dict[str, Any] = field(default_factory=dict, metadata=role(WEIGHTS, cache_dir=LOCATION))
    image_size: int = 224
    train_split: str = "train"
    #: a split of the data set used for model selection; None carves ``val_fraction`` off the training split
    val_split: str | None = None
    val_fraction: float = 0.1
    test_splits: list[str] = field(default_factory=lambda: ["test"])
    hflip: bool = True
    #: random shift of the face (with its landmarks), at most this fraction of the side each way; 0 = off
    random_shift: float = 0.0
    #: random resized crop: the smallest crop, as a fraction of the face's area (zoomed back to the input size,
    #: landmarks moved with the pixels); 1 = off
    random_crop_area: float = 1.0
    #: random erasing (timm's RandomErasing, per-pixel noise), the probability per training face; 0 = off
    random_erasing: float = 0.0
    balanced_sampler: bool = False
    #: loader worker processes: a count, or "auto" (with a GPU: this process's share of the cores less one, at
    #: most 12; without: 0)
    num_workers: int | str = field(default="auto", metadata=role(LOCATION))
    #: what to do with an image that cannot be read during training/evaluation: "skip" (recorded) or "fail"
    on_bad_image: str = "skip"


#: the methods by name: each entry is a method class (``oadn.models.base.FERModel``) whose ``Options`` dataclass is
#: what ``model.KEY`` it takes. Declared here, where a configuration is checked against it; filled by
#: ``oadn.models.registry.register_model`` (the built-in methods at the first lookup)
MODELS: Registry[type] = Registry("model", builtins="oadn.models.builtin")
#: the roles a method's own option may have: it shapes the weights, or acts in the forward pass only
OPTION_ROLES = (WEIGHTS, TEST_TIME)


@dataclass
class NoOptions:
    """The options of a method that declares none."""

    def checks(self) -> list[tuple[str, Any, bool, str]]:
        """(key, value, whether it is valid, what is expected) for each range a value must be in."""
        return []


def options_class(method: str) -> type:
    """The options dataclass method ``method`` declares; a ConfigError naming every registered method otherwise."""
    if method not in MODELS:
        raise ConfigError(f"config.model.name = {method!r}: unknown method; registered: "
                          f"{', '.join(MODELS.names())} (a plugin's method needs --plugin MODULE, a suite's "
                          "plugins: or an installed entry point)")
    return MODELS.get(method).Options


def option_neutral(item: dataclasses.Field) -> Any:
    """The value of a method option that reproduces what the method did before the option existed: its
    declared ``neutral`` (field metadata), else its default. An option at it is left out of a run's identity."""
    if "neutral" in item.metadata:
        return item.metadata["neutral"]
    return item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default


@dataclass
class ModelConfig:
    """Method and backbone, and the method's own settings; OADN's carry the paper's names (T, K, lambda)."""

    name: str = "oadn"
    backbone: str = "resnet50"
    #: initial backbone weights: a local state-dict file, or a timm pretrained tag (``imagenet``, ``tv_in1k``, ...)
    #: fetched into the standard caches when online; None = random initialisation
    pretrained: str | None = None
    #: the method's own settings, an instance of the options dataclass it declares (``config.model.options.lam``),
    #: written beside the keys above (``model.lam``); None builds the method's defaults
    options: Any = None

    def __post_init__(self) -> None:
        if self.options is None:  # an unknown name is named where it is looked up (configuration, create_model)
            self.options = MODELS.get(self.name).Options() if self.name in MODELS else NoOptions()


@dataclass
class TrainConfig:
    """Optimisation; defaults are the paper's (SGD, 60 epochs, lr 0.1 "decreased by 10 after 20 epochs").

    That phrase over 60 epochs is read as a drop every 20 epochs: milestones 20 and 40.
    """

    epochs: int = field(default=60, metadata=role(DURATION))
    batch_size: int = 128
    lr: float = field(default=0.1, metadata=role(OPTIMISER))
    momentum: float = field(default=0.9, metadata=role(OPTIMISER))
    weight_decay: float = field(default=5e-4, metadata=role(OPTIMISER))
    lr_milestones: list[int] = field(default_factory=lambda: [20, 40], metadata=role(OPTIMISER))
    lr_gamma: float = field(default=0.1, metadata=role(OPTIMISER))
    #: sgd (the paper's) or adamw
    optimizer: str = "sgd"
    #: step (the paper's: lr_milestones, lr_gamma), cosine or onecycle
    schedule: str = "step"
    #: linear warm-up epochs at the start of a cosine or one-cycle schedule
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    seed: int = 0
    #: auto (CUDA when there is a GPU), cpu, cuda or cuda:N
    device: str = field(default="auto", metadata=role(LOCATION))
    #: bf16 autocast and channels_last on CUDA
    amp: bool = True
    #: on a CPU: channels_last, and bf16 autocast where the CPU computes bf16 natively (AVX512-BF16, AMX); about
    #: three times faster there (docs/performance.md); false keeps fp32 and the contiguous layout
    cpu_amp: bool = True
    #: metric on the validation split that picks the checkpoint evaluated on test
    select_metric: str = "mean_class_accuracy"
    eval_batch_size: int = field(default=256, metadata=role(LOCATION))
    #: torch.compile the training step: true, false, "auto" (on CUDA only; it pays there: docs/performance.md), or a
    #: torch.compile mode (default, reduce-overhead = CUDA graphs, max-autotune, max-autotune-no-cudagraphs)
    compile: bool | str = "auto"
    #: where per-epoch figures go besides history.jsonl: [tensorboard] writes SummaryWriter events into
    #: <run>/tensorboard (losses, learning rate, validation accuracies); an output, not part of the identity
    loggers: list[str] = field(default_factory=list, metadata=role(LOCATION))


#: the tool that writes new runs, recorded in each (``written_by``)
WRITTEN_BY = f"oadn-bench {__version__}"
#: the configuration format this version writes (``config_version``). Raise it when a field is added, and give
#: the field a row in ADDED_KEYS. Runs from before the format was recorded are format 0. Format 2 moved the
#: settings of OADN, which format 1 wrote under every method, into the options OADN declares (FORMAT1_MODEL_KEYS).
CONFIG_VERSION = 2
#: the model keys every method carried in formats 0 and 1, with the defaults they had: OADN's settings. A method
#: that does not declare one is hashed with it at this value (so that no run's identity moved when they became
#: OADN's own), and a format-1 run's config.yaml is read without the ones its method does not take
FORMAT1_MODEL_KEYS: dict[str, Any] = {"threshold": 0.6, "regions": 4, "lam": 0.5, "sigma": 1.0, "embed_dim": 256,
                                      "lab_pooling": "weighted"}


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    #: the run's display name (default run directory ``runs/<name>``)
    name: str = field(default="run", metadata=role(LABEL))
    #: who wrote the run; None for runs from before it was recorded (a record: not part of the identity)
    written_by: str | None = field(default=WRITTEN_BY, metadata=role(LABEL))
    #: the configuration format of the version that wrote the run; what a key missing from an older run's
    #: config.yaml stood for is read from ADDED_KEYS by it (a record: not part of the identity)
    config_version: int = field(default=CONFIG_VERSION, metadata=role(LABEL))


#: keys added after runs were first written: dotted key -> (the config_version that added it, the value every
#: run written before it used). A run's config.yaml lacking such a key, written before the key existed, is run
#: with that value; a missing key without a row here refuses the run (today's default is never assumed). A key
#: added after format 1 enters a run's identity only where it differs from that value (oadn.experiments.identity),
#: so adding a field with a row here leaves every existing run's hash as it was. A method's own option added
#: later needs no row when its default is the neutral value (see option_neutral).
ADDED_KEYS: dict[str, tuple[int, Any]] = {
    "data.random_shift": (1, 0.0),  # the strong-baseline options: before them no shift, crop or erasing
    "data.random_crop_area": (1, 1.0),
    "data.random_erasing": (1, 0.0),
    "model.lab_pooling": (1, "mean"),  # before the pooling change the attention branch took the plain mean
    "model.options": (1, {}),  # before plugins no method had settings of its own
    "train.optimizer": (1, "sgd"),  # before the strong-baseline options: SGD, the step schedule, no warm-up
    "train.schedule": (1, "step"),
    "train.warmup_epochs": (1, 0),
    "train.compile": (1, False),  # before train.compile no step was compiled
    "train.cpu_amp": (1, False),  # before train.cpu_amp a CPU step ran in fp32 (amp acted on CUDA only)
    "train.loggers": (1, []),  # before the TensorBoard logger: history.jsonl only
}


def _from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    if cls is ModelConfig:
        return _model_from_dict(values, where)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(known)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    if cls is RunConfig:  # every section is built from the class _NESTED names, given or not
        values = {**{key: {} for key in _NESTED}, **values}
    for key, value in values.items():
        if cls is RunConfig and key in _NESTED:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping, got {value!r}")
            kwargs[key] = _from_dict(_NESTED[key], value, f"{where}.{key}")
        else:
            kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


#: the model section's own keys; every other key of it is the method's option
MODEL_KEYS = ("name", "backbone", "pretrained")


def _model_from_dict(values: dict[str, Any], where: str) -> ModelConfig:
    """The model section: its own keys, then the method's options (typed by the dataclass the method declares)."""
    name = _coerce(values.get("name", ModelConfig.name), str, f"{where}.name")
    schema = options_class(name)
    names = [item.name for item in dataclasses.fields(schema)]
    unknown = sorted(set(values) - set(MODEL_KEYS) - set(names))
    if unknown:
        takes = f"{name}'s options {', '.join(names)}" if names else f"{name} takes no options of its own"
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(MODEL_KEYS)} "
                          f"({takes})")
    hints = typing.get_type_hints(ModelConfig)
    own = {key: _coerce(values[key], hints[key], f"{where}.{key}") for key in MODEL_KEYS if key in values}
    return ModelConfig(**own, options=_from_dict(schema, {k: v for k, v in values.items() if k in names}, where))


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


def non_finite(value: Any, where: str) -> list[str]:
    """``key = value`` for every infinite or NaN number in ``value``, mappings and lists included."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where} = {value!r}"]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in non_finite(item, f"{where}.{key}")]
    if isinstance(value, (list, tuple)):
        return [found for i, item in enumerate(value) for found in non_finite(item, f"{where}[{i}]")]
    return []


def config_from_dict(values: dict[str, Any], where: str = "config") -> RunConfig:
    """Build a RunConfig from a nested mapping, rejecting unknown keys, wrong types, values out of range and
    any number that is not finite (a range check such as lr > 0 lets .inf through; no setting means it)."""
    infinite = non_finite(values or {}, where)
    if infinite:
        raise ConfigError(f"{'; '.join(infinite)}: expected a finite number (.inf and .nan are refused everywhere "
                          "in a configuration)")
    config = _from_dict(RunConfig, values or {}, where)
    check_ranges(config, where)
    return config


def _problems(config: RunConfig) -> list[tuple[str, object, str]]:
    """(dotted key, value, what is expected) for every value out of range."""
    data, model, train = config.data, config.model, config.train
    checks = [
        ("name", config.name, not relative_path_problem(config.name),
         f"a relative run name, names joined by '/' ({relative_path_problem(config.name)})"),
        ("data.image_size", data.image_size, data.image_size >= MIN_IMAGE_SIZE, f"an integer >= {MIN_IMAGE_SIZE}"),
        ("data.val_fraction", data.val_fraction, 0.0 <= data.val_fraction < 1.0, "a fraction in [0, 1)"),
        ("data.test_splits", data.test_splits, len(set(data.test_splits)) == len(data.test_splits),
         "split names without repeats"),
        ("data.num_workers", data.num_workers,
         data.num_workers == "auto" or (isinstance(data.num_workers, int) and data.num_workers >= 0),
         "an integer >= 0 or auto"),
        ("data.on_bad_image", data.on_bad_image, data.on_bad_image in ON_BAD_IMAGE, " or ".join(ON_BAD_IMAGE)),
        ("data.random_shift", data.random_shift, 0.0 <= data.random_shift < 0.5, "a fraction of the side in [0, 0.5)"),
        ("data.random_crop_area", data.random_crop_area, 0.0 < data.random_crop_area <= 1.0,
         "a fraction of the area in (0, 1]"),
        ("data.random_erasing", data.random_erasing, 0.0 <= data.random_erasing <= 1.0, "a probability in [0, 1]"),
        *((f"model.{key}", value, ok, expected) for key, value, ok, expected in model.options.checks()),
        ("train.epochs", train.epochs, train.epochs >= 1, "an integer >= 1"),
        ("train.batch_size", train.batch_size, train.batch_size >= 1, "an integer >= 1"),
        ("train.eval_batch_size", train.eval_batch_size, train.eval_batch_size >= 1, "an integer >= 1"),
        ("train.lr", train.lr, train.lr > 0, "a positive learning rate"),
        ("train.momentum", train.momentum, 0.0 <= train.momentum < 1.0, "a momentum in [0, 1)"),
        ("train.weight_decay", train.weight_decay, train.weight_decay >= 0, "a number >= 0"),
        ("train.lr_milestones", train.lr_milestones,
         all(m >= 1 for m in train.lr_milestones) and train.lr_milestones == sorted(set(train.lr_milestones)),
         "increasing epoch numbers >= 1"),
        ("train.lr_gamma", train.lr_gamma, 0.0 < train.lr_gamma <= 1.0, "a factor in (0, 1]"),
        ("train.optimizer", train.optimizer, train.optimizer in OPTIMIZERS, " or ".join(OPTIMIZERS)),
        ("train.schedule", train.schedule, train.schedule in SCHEDULES, " or ".join(SCHEDULES)),
        ("train.warmup_epochs", train.warmup_epochs,
         0 <= train.warmup_epochs < train.epochs and (train.warmup_epochs == 0 or train.schedule != "step"),
         "an integer in [0, train.epochs), 0 with the step schedule"),
        ("train.label_smoothing", train.label_smoothing, 0.0 <= train.label_smoothing < 1.0, "a value in [0, 1)"),
        ("train.seed", train.seed, train.seed >= 0, "an integer >= 0"),
        ("train.compile", train.compile, isinstance(train.compile, bool) or train.compile in ("auto", *COMPILE_MODES),
         f"true, false, auto or a torch.compile mode ({', '.join(COMPILE_MODES)})"),
        ("train.select_metric", train.select_metric, train.select_metric in SELECT_METRICS,
         " or ".join(SELECT_METRICS)),
        ("train.loggers", train.loggers, set(train.loggers) <= set(LOGGERS) and len(set(train.loggers)) ==
         len(train.loggers), f"a list of loggers without repeats, each one of: {', '.join(LOGGERS)}"),
        ("config_version", config.config_version, 0 <= config.config_version <= CONFIG_VERSION,
         f"a configuration format this version reads, 0 to {CONFIG_VERSION} (a newer oadn-bench wrote it?)"),
    ]
    return [(key, value, expected) for key, value, ok, expected in checks if not ok]


def check_options(model: ModelConfig, where: str = "config") -> None:
    """A ConfigError listing every option of ``model`` out of its range (for a model built without a
    configuration, whose check_ranges would say the same)."""
    problems = [(f"model.{key}", value, expected) for key, value, ok, expected in model.options.checks() if not ok]
    if problems:
        raise ConfigError("; ".join(f"{where}.{key} = {value!r}: expected {expected}" for key, value, expected
                                    in problems))


def check_ranges(config: RunConfig, where: str = "config") -> None:
    """Raise ConfigError listing every value out of its range (all at once, so one retry fixes them all)."""
    problems = _problems(config)
    if problems:
        raise ConfigError("; ".join(f"{where}.{key} = {value!r}: expected {expected}" for key, value, expected
                                    in problems))


def merge(base: dict[str, Any], update: dict[str, Any], *, none_removes: bool = False) -> dict[str, Any]:
    """Recursive dict merge: mappings merge key by key, anything else replaces; with ``none_removes`` a key the
    update sets to None is removed instead."""
    out = dict(base)
    for key, value in update.items():
        if value is None and none_removes:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, none_removes=none_removes)
        else:
            out[key] = value
    return out


def parse_override(text: str, option: str = "override", example: str = "train.lr=0.01") -> dict[str, Any]:
    """``a.b.c=value`` -> {"a": {"b": {"c": value}}}, with value parsed as YAML; errors name ``option`` (the
    command-line option the text came from) and give ``example``."""
    if "=" not in text:
        raise ConfigError(f"{option} {text!r}: expected KEY=VALUE, e.g. {example}")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"{option} {text!r}: empty key component")
    try:
        value: Any = yaml_data.load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"{option} {text!r}: the value is not valid YAML ({problem}); a mapping is written "
            "{key: value, other: value}, a list [a, b]"
        ) from err
    for part in reversed(parts):
        value = {part: value}
    return value


def parse_options(pairs: Iterable[str], option: str, example: str = "key=value") -> dict[str, Any]:
    """The one ``KEY=VALUE`` parser of the command line (``--set``, ``-o/--option``, ``--model-option``,
    ``--executor-option``): values read as YAML (``area=0.3`` is a number, ``kind=eyes`` a string), a dotted key
    nests, later pairs win; a malformed pair is a ConfigError naming ``option``."""
    values: dict[str, Any] = {}
    for text in pairs:
        values = merge(values, parse_override(text, option, example))
    return values


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; errors (a key given twice among them) name the file and line."""
    try:
        with open(path) as fh:
            values = yaml_data.load(fh) or {}
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
    # a new run is written by this version, whatever a copied config.yaml says
    return config_from_dict({**values, "written_by": WRITTEN_BY, "config_version": CONFIG_VERSION})


def _field_keys(method: str) -> list[str]:
    """Every dotted key of a RunConfig of method ``method`` (``data.name``, ..., ``model.lam``, ...,
    ``config_version``), in declaration order."""
    out = []
    for item in dataclasses.fields(RunConfig):
        if item.name == "model":
            out += [f"model.{key}" for key in MODEL_KEYS]
            out += [f"model.{sub.name}" for sub in dataclasses.fields(options_class(method))]
        elif item.name in _NESTED:
            out += [f"{item.name}.{sub.name}" for sub in dataclasses.fields(_NESTED[item.name])]
        else:
            out.append(item.name)
    return out


def _format1_model(model: dict[str, Any], version: int) -> dict[str, Any]:
    """A model section as format 1 wrote it (OADN's settings under every method, other methods' settings in
    ``model.options``), in today's: the method's own options beside its name, the keys it does not take left out
    (they did nothing to it); an option its format-1 run did not write took the method's default."""
    name = model.get("name", ModelConfig.name)
    schema = options_class(name) if isinstance(name, str) else NoOptions
    owned = {item.name: item for item in dataclasses.fields(schema)}
    out = {key: value for key, value in model.items() if key in MODEL_KEYS or key in owned}
    given = model.get("options", ADDED_KEYS["model.options"][1] if version < ADDED_KEYS["model.options"][0] else {})
    if isinstance(given, dict):
        out.update({key: value for key, value in given.items() if key not in FORMAT1_MODEL_KEYS})
    for key, item in owned.items():
        if key not in out and key not in FORMAT1_MODEL_KEYS:
            out[key] = option_neutral(item)
    return out


def run_config_from_dict(values: dict[str, Any], where: str) -> RunConfig:
    """A run's saved configuration, as the version that wrote it ran it: a key added after that version
    (ADDED_KEYS) takes the value that version used; any other missing key is a ConfigError naming it, so an
    older run is never evaluated or resumed under today's default. A format-1 run's model section is read in
    today's layout (:func:`_format1_model`)."""
    values = copy.deepcopy(dict(values or {}))
    version = values.setdefault("config_version", 0)  # runs from before the format was recorded
    values.setdefault("written_by", None)
    if type(version) is not int:
        raise ConfigError(f"{where}: config_version = {version!r}: expected an integer")
    if version < 2 and isinstance(values.get("model", {}), dict):
        values["model"] = _format1_model(values.get("model", {}), version)
    method = values.get("model", {}).get("name", ModelConfig.name) if isinstance(values.get("model"), dict) else ""
    unknown = []
    for key in _field_keys(method if isinstance(method, str) else ModelConfig.name):
        *parents, leaf = key.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf in node:
            continue
        added = ADDED_KEYS.get(key)
        if added is not None and version < added[0]:
            node[leaf] = copy.deepcopy(added[1])
        else:
            unknown.append(key)
    if unknown:
        raise ConfigError(
            f"{where}: {', '.join(unknown)} missing, and what the version that wrote this run (configuration format "
            f"{version}) used for {'it' if len(unknown) == 1 else 'them'} is not known; refusing to run it under "
            f"today's default: restore the key(s) from a backup, or train the run again"
        )
    return config_from_dict(values, where)


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The configuration as plain data, the method's options beside the model's own keys (``model.lam``)."""
    values = dataclasses.asdict(config)
    values["model"].update(values["model"].pop("options"))
    return values


def keys_with_role(*roles: str, method: str | None = ModelConfig.name) -> tuple[str, ...]:
    """Dotted keys (``train.lr``, ``data.split_options.cache_dir``, ``model.threshold``) whose declared role is one
    of ``roles``, in the order the fields are declared: a RunConfig's own, and, unless ``method`` is None, the
    options of that method (by default the default configuration's, OADN's)."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; expected some of {', '.join(ROLES)}")
    found = _roles(RunConfig, "")
    if method is not None:
        found += _roles(options_class(method), "model.")
    return tuple(key for key, kind in found if kind in roles)


def _roles(cls: type, prefix: str) -> list[tuple[str, str]]:
    out = []
    for item in dataclasses.fields(cls):
        key = f"{prefix}{item.name}"
        if cls is RunConfig and item.name in _NESTED:
            out += _roles(_NESTED[item.name], f"{key}.")
            continue
        if cls is ModelConfig and item.name == "options":
            continue
        out.append((key, item.metadata.get("role", WEIGHTS)))
        out += [(f"{key}.{sub}", kind) for sub, kind in item.metadata.get("key_roles", {}).items()]
    return out
