"""Evaluate a finished run's selected weights on any split of any registered data set."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import torch

from oadn.data.registry import get_dataset
from oadn.engine.evaluate import metrics_by_branch, predict
from oadn.engine.resume import selected_weights
from oadn.engine.train import open_data_split, resolve_device
from oadn.models import create_model
from oadn.runs import load_config, save_json, save_parquet


def evaluate_run(
    run_dir: Path,
    *,
    dataset: str | None = None,
    root: Path | None = None,
    splits: list[str] | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Metrics per split and branch; predictions and metrics go to ``<run>/evaluations/<data set>/``.

    Without ``dataset`` the run's own data set and test splits are used. A different data set must share the
    run's class space (same canonical classes, same order), or the figures would be meaningless. An unfinished
    run is evaluated with a warning; ``weights.json`` next to the metrics records the epoch the weights come from.
    """
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    if cache_dir is not None:
        split_options = {**config.data.split_options, "cache_dir": str(cache_dir)}
        config.data = dataclasses.replace(config.data, split_options=split_options)
    weights = run_dir / "best.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: the run has no selected weights yet (unfinished? use train --resume)")
    provenance = selected_weights(run_dir)
    if not provenance["finished"]:
        warnings.warn(
            f"{run_dir} is unfinished ({provenance['epochs_done']} of {provenance['epochs']} epochs); evaluating the "
            f"weights of epoch {provenance['epoch']}, the best on validation so far"
        )
    run_adapter = get_dataset(config.data.name, **config.data.options)
    if dataset is None:
        adapter, dataset, root = run_adapter, config.data.name, None
        splits = splits or config.data.test_splits
    else:
        adapter = get_dataset(dataset, **(options or {}))
    if tuple(adapter.classes) != tuple(run_adapter.classes):
        raise ValueError(
            f"{dataset} has classes {list(adapter.classes)} but the run was trained on {list(run_adapter.classes)}"
        )
    splits = splits or [s for s in adapter.splits if s.startswith("test")]
    device = resolve_device(config.train.device)
    model = create_model(config.model, len(adapter.classes), config.data.image_size).to(device)
    model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
    out_dir = run_dir / "evaluations" / dataset
    results: dict[str, Any] = {}
    for split in splits:
        source = open_data_split(adapter, config.data, split, root)
        frame, bad = predict(
            model,
            source,
            device=device,
            batch_size=config.train.eval_batch_size,
            amp=config.train.amp,
            num_workers=config.data.num_workers,
            on_bad_image=config.data.on_bad_image,
            description=f"{dataset} {split}",
            progress=progress,
        )
        save_parquet(frame, out_dir / f"{split}.parquet")
        results[split] = metrics_by_branch(frame, adapter.classes)
        results[split]["bad_images"] = [list(b) for b in bad]
    save_json(results, out_dir / "metrics.json")
    save_json(provenance, out_dir / "weights.json")
    return results
