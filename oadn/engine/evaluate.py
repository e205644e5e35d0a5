"""Evaluate a finished run's selected weights on any split of any registered data set.

Protocol options: a data set the run was not trained on inherits those of the run's options its adapter
accepts (so Occlusion-FERPlus is read under the run's FERPlus label mode), unless ``options`` overrides them.
Each (data set, options, model overrides) gets its own folder ``<run>/evaluations/<key>/`` with one parquet per
split, ``metrics.json`` (per split; evaluating one split never removes another's figures) and
``evaluation.json`` (what was evaluated and how classes were scored). Each split's metrics carry the
fingerprint of the data they were computed on (:mod:`oadn.data.fingerprint`): figures on another copy of the
data are computed again, never reused.

Cross-data-set scoring: a test set whose classes are a strict subset of the training classes (FERPlus' 8 ->
FED-RO's 7, a lab set without neutral) is scored on the shared classes, matched by canonical name, with each
prediction RESTRICTED to those classes (arg-max over the shared outputs only). Restricting asks "which of the
test set's expressions is it", the question the test set can answer; an unrestricted arg-max would count every
"contempt" answer on a 7-class set as an error the labels cannot confirm. ``evaluation.json`` records it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Callable

from oadn.common.files import load_torch, read_json, save_json, save_parquet
from oadn.config import TEST_TIME, RunConfig, build_config, config_to_dict, keys_with_role, merge
from oadn.data.fingerprint import data_fingerprints
from oadn.data.on_disk import parsed_once
from oadn.data.registry import DatasetAdapter, get_dataset, option_names
from oadn.engine.device import precision_for, resolve_device
from oadn.engine.predict import metrics_by_branch, predict
from oadn.engine.preflight import check_writable
from oadn.engine.resume import selected_weights
from oadn.engine.run_dir import load_config
from oadn.engine.splits import open_data_split
from oadn.models import create_model


def test_time_model_keys(method: str) -> tuple[str, ...]:
    """The settings of ``method`` that act in the forward pass only (the TEST_TIME role), so a run trained with it
    can be scored under other values (OADN's threshold and sigma)."""
    return tuple(key.removeprefix("model.") for key in keys_with_role(TEST_TIME, method=method)
                 if key.startswith("model."))


def inherited_options(dataset: str, run_options: dict[str, Any]) -> dict[str, Any]:
    """The run's protocol options that ``dataset``'s adapter accepts (all of them when it takes ``**kwargs``)."""
    names, takes_any = option_names(dataset)
    return dict(run_options) if takes_any else {k: v for k, v in run_options.items() if k in names}


def column_options(dataset: str, run_options: dict[str, Any], options: dict[str, Any] | None) -> dict[str, Any]:
    """The protocol options another data set is scored under: the run's that its adapter accepts, then ``options``.

    The one rule for planning a suite column and for evaluating it, so both open the same adapter."""
    return {**inherited_options(dataset, run_options), **(options or {})}


@dataclasses.dataclass
class EvaluationSpec:
    """What one ``evaluate`` call scores, resolved against the run."""

    dataset: str
    options: dict[str, Any]
    model_overrides: dict[str, Any]
    adapter: DatasetAdapter
    run_classes: tuple[str, ...]
    out_dir: Path

    @property
    def restrict_to(self) -> list[int] | None:
        if tuple(self.adapter.classes) == self.run_classes:
            return None
        return [self.run_classes.index(c) for c in self.adapter.classes]

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "options": self.options,
            "model_overrides": self.model_overrides,
            "run_classes": list(self.run_classes),
            "classes": list(self.adapter.classes),
            "scored_classes": list(self.adapter.classes),
            "restricted": self.restrict_to is not None,
        }


def resolve_evaluation(
    run_dir: Path,
    config: RunConfig,
    dataset: str | None,
    options: dict[str, Any] | None,
    model_overrides: dict[str, Any] | None,
    root: Path | None = None,
) -> EvaluationSpec:
    """Adapter, options and output folder of an evaluation; fails when the classes cannot be matched. ``root``
    (else the run's) is the copy evaluated on: a ``folder`` data set takes its classes from it."""
    own = config.data.name
    dataset = dataset or own
    inherited = inherited_options(dataset, config.data.options)  # all of them for the run's own data set
    resolved = column_options(dataset, config.data.options, options)
    adapter = get_dataset(dataset, **resolved).at_root(root if root is not None else config.data.root)
    run_classes = tuple(get_dataset(own, **config.data.options).at_root(config.data.root).classes)
    extra = set(adapter.classes) - set(run_classes)
    if extra:
        raise ValueError(f"{dataset} has classes {list(adapter.classes)}, {sorted(extra)} of which the run "
                         f"(trained on {list(run_classes)}) cannot predict")
    overrides = dict(model_overrides or {})
    allowed = test_time_model_keys(config.model.name)
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"model key(s) {', '.join(unknown)} cannot change at evaluation; only the test-time "
                         f"settings of {config.model.name} ({', '.join(allowed) or 'none'}) can (the others shape "
                         "the trained weights)")
    key = dataset
    if resolved != inherited or overrides:
        text = json.dumps({"options": resolved, "model": overrides}, sort_keys=True, default=str)
        key = f"{dataset}@{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return EvaluationSpec(dataset, resolved, overrides, adapter, run_classes, Path(run_dir) / "evaluations" / key)


def evaluate_run(
    run_dir: Path,
    *,
    dataset: str | None = None,
    root: Path | None = None,
    splits: list[str] | None = None,
    options: dict[str, Any] | None = None,
    split_options: dict[str, Any] | None = None,
    model_overrides: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics per split and branch (see the module docstring for options, outputs and class subsets).

    Without ``dataset`` the run's own data set and test splits are used; ``model_overrides`` change test-time
    settings of the model (e.g. OADN's threshold T or sigma) without retraining. An unfinished run is
    evaluated with a warning; ``weights.json`` next to the metrics records the epoch the weights come from.
    """
    with parsed_once():
        return _evaluate_run(Path(run_dir), dataset=dataset, root=root, splits=splits, options=options,
                             split_options=split_options, model_overrides=model_overrides, progress=progress)


def _evaluate_run(run_dir: Path, *, dataset: str | None, root: Path | None, splits: list[str] | None,
                  options: dict[str, Any] | None, split_options: dict[str, Any] | None,
                  model_overrides: dict[str, Any] | None, progress: bool) -> dict[str, Any]:
    config = load_config(run_dir)
    weights = run_dir / "best.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: the run has no selected weights yet (unfinished? use train --resume)")
    provenance = selected_weights(run_dir)
    if not provenance["finished"]:
        warnings.warn(
            f"{run_dir} is unfinished ({provenance['epochs_done']} of {provenance['epochs']} epochs); evaluating the "
            f"weights of epoch {provenance['epoch']}, the best on validation so far"
        )
    spec = resolve_evaluation(run_dir, config, dataset, options, model_overrides, root)
    check_writable(spec.out_dir)  # before scoring, not after it
    if spec.dataset == config.data.name and not splits:
        splits = config.data.test_splits
    splits = splits or [s for s in spec.adapter.splits if s.startswith("test")]
    data = dataclasses.replace(config.data, split_options={**config.data.split_options, **(split_options or {})})
    device = resolve_device(config.train.device)
    # typed and range-checked as any configuration (a ConfigError names the key)
    model_config = build_config(base=merge(config_to_dict(config), {"model": spec.model_overrides})).model
    model = create_model(model_config, len(spec.run_classes), config.data.image_size).to(device)
    model.load_state_dict(load_torch(weights, map_location=device))
    metrics_path = spec.out_dir / "metrics.json"
    saved = read_json(metrics_path, f"remove {spec.out_dir} and evaluate again") if metrics_path.is_file() else {}
    results: dict[str, Any] = {}
    for split in splits:
        source = open_data_split(spec.adapter, data, split, root)
        predictions, bad = predict(
            model,
            source,
            device=device,
            batch_size=config.train.eval_batch_size,
            precision=precision_for(device, config.train.amp, config.train.cpu_amp),
            num_workers=config.data.num_workers,
            on_bad_image=config.data.on_bad_image,
            description=f"{spec.dataset} {split}",
            progress=progress,
            restrict_to=spec.restrict_to,
        )
        save_parquet(predictions, spec.out_dir / f"{split}.parquet")
        results[split] = metrics_by_branch(predictions, spec.adapter.classes)
        results[split]["bad_images"] = [list(b) for b in bad]
    fingerprints = split_fingerprints(spec, config, root, data.split_options)
    for split in splits:
        if fingerprints is not None:
            results[split]["data"] = fingerprints.get(split)
    save_json({**saved, **results}, metrics_path)
    save_json({**spec.describe(), "root": str(root) if root else config.data.root}, spec.out_dir / "evaluation.json")
    save_json(provenance, spec.out_dir / "weights.json")
    return results


def split_fingerprints(spec: EvaluationSpec, config: RunConfig, root: Path | None,
                       split_options: dict[str, Any]) -> dict[str, Any] | None:
    """The fingerprints of the evaluated data set's splits at ``root`` (else the run's own root)."""
    where = root if root is not None else (Path(config.data.root) if config.data.root else None)
    return data_fingerprints(spec.adapter, where, split_options.get("cache_dir"))


def evaluate_missing(
    run_dir: Path,
    splits: list[str],
    *,
    dataset: str | None = None,
    root: Path | None = None,
    options: dict[str, Any] | None = None,
    split_options: dict[str, Any] | None = None,
    model_overrides: dict[str, Any] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[EvaluationSpec, dict[str, Any]]:
    """The run's metrics on ``splits`` (as :func:`evaluate_run`), evaluating in one pass only the splits whose
    metrics or predictions are not on disk yet; suites and ablations ask this way, so finished figures are reused."""
    spec = resolve_evaluation(Path(run_dir), load_config(run_dir), dataset, options, model_overrides, root)
    path = spec.out_dir / "metrics.json"
    saved = read_json(path, f"remove {spec.out_dir} and evaluate again") if path.is_file() else {}
    config = load_config(run_dir)
    now = split_fingerprints(spec, config, root, {**config.data.split_options, **(split_options or {})})
    missing = [s for s in splits if s not in saved or not (spec.out_dir / f"{s}.parquet").is_file()
               or (now is not None and saved[s].get("data") != now.get(s))]  # figures of another copy: again
    if missing:
        at = f" at {spec.model_overrides}" if spec.model_overrides else ""
        log(f"scoring {run_dir} on {spec.dataset} {', '.join(missing)}{at}")
        saved.update(evaluate_run(run_dir, dataset=dataset, root=root, splits=missing, options=options,
                                  split_options=split_options, model_overrides=model_overrides, progress=progress))
    return spec, saved
