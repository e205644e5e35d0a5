"""Range checks of configuration values, run when a config is built so that a bad value stops a run before
anything is written, with the key and the allowed range named (not a torch error deep inside an epoch)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oadn.config import RunConfig

ON_BAD_IMAGE = ("skip", "fail")
#: torch.compile's modes, any of which train.compile takes (see oadn.engine.compiling)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SELECT_METRICS = ("accuracy", "mean_class_accuracy")
#: the smallest input any backbone accepts; the exact bound for a backbone is checked against its stride
MIN_IMAGE_SIZE = 16


def _problems(config: RunConfig) -> list[tuple[str, object, str]]:
    """(dotted key, value, what is expected) for every value out of range."""
    data, model, train = config.data, config.model, config.train
    checks = [
        ("data.image_size", data.image_size, data.image_size >= MIN_IMAGE_SIZE, f"an integer >= {MIN_IMAGE_SIZE}"),
        ("data.val_fraction", data.val_fraction, 0.0 <= data.val_fraction < 1.0, "a fraction in [0, 1)"),
        ("data.test_splits", data.test_splits, len(set(data.test_splits)) == len(data.test_splits),
         "split names without repeats"),
        ("data.num_workers", data.num_workers,
         data.num_workers == "auto" or (isinstance(data.num_workers, int) and data.num_workers >= 0),
         "an integer >= 0 or auto"),
        ("data.on_bad_image", data.on_bad_image, data.on_bad_image in ON_BAD_IMAGE, " or ".join(ON_BAD_IMAGE)),
        ("model.threshold", model.threshold, 0.0 <= model.threshold <= 1.0, "T in [0, 1] (a landmark score)"),
        ("model.regions", model.regions, model.regions >= 1 and math.isqrt(model.regions) ** 2 == model.regions,
         "K a square number: 1, 4, 9, 16, ..."),
        ("model.lam", model.lam, 0.0 <= model.lam <= 1.0, "lambda in [0, 1]"),
        ("model.sigma", model.sigma, model.sigma > 0, "a positive number of feature cells"),
        ("model.embed_dim", model.embed_dim, model.embed_dim >= 1, "an integer >= 1"),
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
        ("train.label_smoothing", train.label_smoothing, 0.0 <= train.label_smoothing < 1.0, "a value in [0, 1)"),
        ("train.seed", train.seed, train.seed >= 0, "an integer >= 0"),
        ("train.compile", train.compile, isinstance(train.compile, bool) or train.compile in ("auto", *COMPILE_MODES),
         f"true, false, auto or a torch.compile mode ({', '.join(COMPILE_MODES)})"),
        ("train.select_metric", train.select_metric, train.select_metric in SELECT_METRICS,
         " or ".join(SELECT_METRICS)),
    ]
    return [(key, value, expected) for key, value, ok, expected in checks if not ok]


def check_ranges(config: RunConfig, where: str = "config") -> None:
    """Raise ConfigError listing every value out of its range (all at once, so one retry fixes them all)."""
    from oadn.config import ConfigError

    problems = _problems(config)
    if problems:
        raise ConfigError("; ".join(f"{where}.{key} = {value!r}: expected {expected}" for key, value, expected
                                    in problems))
