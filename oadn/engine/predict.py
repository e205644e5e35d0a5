"""Predicting one split: per-image predictions of every branch, and metrics per branch."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from oadn.common.progress import progress_bar
from oadn.data.faces import FaceSource
from oadn.engine import distributed
from oadn.engine.device import Precision, autocast_for, fast_layout
from oadn.engine.loader import Loader, make_loader, to_device
from oadn.engine.metrics import classification_metrics
from oadn.models.backbones import input_normalisation
from oadn.models.base import FERModel

#: the prediction table's column of donor classes (faces with another face's region swapped in)
DONOR = "donor"
#: the prediction table's column of interest points kept per face, for methods that drop points by score
KEPT = "kept_points"


@torch.no_grad()
def predict(
    model: FERModel,
    source: FaceSource,
    *,
    device: torch.device,
    batch_size: int,
    precision: Precision = Precision(),
    num_workers: int = 0,
    on_bad_image: str = "skip",
    description: str = "evaluate",
    progress: bool = True,
    restrict_to: Sequence[int] | None = None,
    loader: Loader | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Per-image table (image_id, label, pred_<branch> for every branch, scores of the prediction, and ``donor``
    where faces carry another face's region: its class, -1 for the others) and the images that could not be
    read.

    ``restrict_to`` (model output indices, in the source's class order) scores a test set whose classes are a
    subset of the training classes: each branch's arg-max runs over those outputs only, and predictions and
    scores are indices into the source's classes. ``precision``: :func:`oadn.engine.device.precision_for` of the
    run (full precision by default). ``loader`` reuses an evaluation loader of ``source`` (and its
    persistent workers). Under distributed training each rank predicts its shard and every rank returns the
    whole, gathered table.
    """
    model.eval()
    rank, world_size = distributed.rank_and_size()
    if loader is None:
        loader = make_loader(
            source, batch_size=batch_size, train=False, seed=0, num_workers=num_workers, on_bad_image=on_bad_image,
            rank=rank, world_size=world_size,
        )
    channels_last = fast_layout(model, precision)
    normalisation = input_normalisation(getattr(model, "backbone", model))
    indices: list[np.ndarray] = []
    donors: list[np.ndarray] = []
    kept: list[torch.Tensor] = []
    branch_scores: dict[str, list] = {}  # device tensors per batch, then one array per branch
    bad: list[tuple[str, str, str]] = []
    with progress_bar(progress) as bar:
        task = bar.add_task(description, total=len(loader), info="")
        for batch in loader:
            bad.extend(batch["bad"])
            if batch["size"]:
                images, landmarks = to_device(batch, device, channels_last, normalisation)
                with autocast_for(device, precision):
                    outputs = model(images, landmarks)
                counts = model.kept_point_counts(outputs)
                if counts is not None:
                    kept.append(counts)
                for name, scores in model.branch_scores(outputs).items():  # kept on the device: no sync per batch
                    branch_scores.setdefault(name, []).append(scores.float())
                indices.append(batch["index"].numpy())
                donors.append(batch["donor"].numpy())
            bar.advance(task)
    branch_scores = {name: [torch.cat(chunks).cpu().numpy()] for name, chunks in branch_scores.items()}
    extra = {DONOR: donors, **({KEPT: [torch.cat(kept).cpu().numpy()]} if kept else {})}
    if world_size > 1:
        indices, columns, bad = distributed.gather_predictions(indices, {**branch_scores, **extra}, bad)
        extra = {name: columns.pop(name) for name in list(extra)}
        branch_scores = columns
    donors = extra[DONOR]
    if not indices:
        raise RuntimeError(f"{description}: no readable image in the split ({len(bad)} unreadable)")
    order = np.concatenate(indices)
    ranked = np.argsort(order, kind="stable")  # in index order, however the ranks shared the split
    order = order[ranked]
    ids = source.image_ids
    predictions = pd.DataFrame(
        {"image_id": [ids[i] for i in order], "label": np.asarray(source.labels)[order].astype(np.int64)}
    )
    donor = np.concatenate(donors)[ranked] if donors else np.empty(0, dtype=np.int64)
    if (donor >= 0).any():
        predictions[DONOR] = donor
    if KEPT in extra:
        predictions[KEPT] = np.concatenate(extra[KEPT])[ranked].astype(np.int64)
    for name, chunks in branch_scores.items():
        scores = np.concatenate(chunks)[ranked]
        if restrict_to is not None:
            scores = scores[:, list(restrict_to)]
        predictions[f"pred_{name}"] = scores.argmax(axis=1).astype(np.int64)
        if name == "prediction":
            predictions["scores"] = list(scores.astype(np.float32))
    return predictions, bad


def metrics_by_branch(predictions: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
    """Metrics for every ``pred_<branch>`` column of a prediction table; where faces carry a swapped-in region,
    also ``donor_rate``: the share of those faces predicted as the donor's class."""
    branches = [column.removeprefix("pred_") for column in predictions.columns if column.startswith("pred_")]
    metrics = {
        branch: classification_metrics(predictions["label"].to_numpy(), predictions[f"pred_{branch}"].to_numpy(),
                                       classes)
        for branch in branches
    }
    if DONOR in predictions:
        swapped = predictions[predictions[DONOR] >= 0]
        for branch in branches:
            metrics[branch]["donor_rate"] = float((swapped[f"pred_{branch}"] == swapped[DONOR]).mean())
            metrics[branch]["swapped_faces"] = len(swapped)
    return metrics
