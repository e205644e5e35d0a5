"""Training the visibility network on a data set's own faces with pasted occluders (labels from the masks).

Examples are made once (a face, an occluder of a training kind over a random share of the face, and per point
whether the mask covers it) and kept beside the output file, so a killed run resumes without redrawing them;
training checkpoints every epoch. The judgement uses held-out faces (the test split) and occluder kinds left
out of training: per-point AUC of the predicted visibility against the mask's truth.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from oadn.common.files import load_torch, save_npz, save_torch
from oadn.common.progress import progress_bar
from oadn.common.seeding import rng_for
from oadn.data.faces import FaceSource
from oadn.data.landmarks.visibility import VisibilityNet, normalise, resize_face, save_model
from oadn.data.occlusion import OccludedSource


@dataclass
class FitSettings:
    """Everything that decides the fitted model; saved inside the model file."""

    dataset: str
    train_split: str = "train"
    eval_split: str = "test"
    image_size: int = 48
    samples: int = 6000
    eval_samples: int = 1000
    epochs: int = 8
    batch_size: int = 64
    lr: float = 3e-3
    probability: float = 0.8
    #: share of examples shrunk and enlarged back (see :func:`degrade`)
    degrade: float = 0.0
    area_min: float = 0.1
    area_max: float = 0.5
    train_kinds: list[str] = field(default_factory=lambda: ["sunglasses", "mask", "rect", "texture",
                                                            "upper", "lower", "left", "right"])
    holdout_kinds: list[str] = field(default_factory=lambda: ["hand", "scarf", "hair"])
    seed: int = 0
    width: int = 32
    embed: int = 16


def degrade(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face shrunk to 40-90% and enlarged back: pasted edges stop being sharper than the photo's own, so the
    network cannot tell occluders by their crispness alone."""
    from PIL import Image

    size = face.shape[0]
    small = max(8, int(size * rng.uniform(0.4, 0.9)))
    return np.asarray(Image.fromarray(face).resize((small, small), Image.BILINEAR).resize((size, size), Image.BILINEAR))


def make_examples(source: FaceSource, count: int, kinds: list[str], settings: FitSettings, seed: int,
                  probability: float, description: str, progress: bool = True) -> dict[str, np.ndarray]:
    """``count`` faces drawn from ``source`` (landmarked ones only), occluded with ``probability`` by one of
    ``kinds`` over a share of the face between ``settings.area_min`` and ``area_max``, as the ``occluded`` data
    set pastes them."""
    order = rng_for(seed, 0, "visibility examples").permutation(len(source))
    occluded = OccludedSource(source, kinds=tuple(kinds), area=(settings.area_min, settings.area_max),
                              probability=probability, seed=seed, scores="backend")
    size = settings.image_size
    images, points, visible = [], [], []
    with progress_bar(progress) as bar:
        task = bar.add_task(description, total=count, info="")
        for start in range(0, len(order), 256):
            if len(images) >= count:
                break
            batch = occluded.read(order[start:start + 256])
            batch = batch.take(batch.found)  # no landmarks: nothing to learn from
            faces = batch.full_images()
            ids = source.image_ids
            for k in range(min(len(batch), count - len(images))):
                face, xy = resize_face(faces[k], batch.landmarks[k], size)
                if rng_for(seed, 0, "degrade", ids[int(batch.indices[k])]).random() < settings.degrade:
                    face = degrade(face, rng_for(seed, 1, "degrade", ids[int(batch.indices[k])]))
                images.append(face)
                points.append(xy)
                visible.append(~batch.hidden[k])
                bar.advance(task)
    if not images:
        raise ValueError(f"{description}: no face with landmarks found")
    return {"images": np.stack(images), "points": np.stack(points).astype(np.float32), "visible": np.stack(visible)}


@torch.no_grad()
def predict(net: VisibilityNet, examples: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    net.eval()
    out = []
    for start in range(0, len(examples["images"]), batch_size):
        images = normalise(examples["images"][start:start + batch_size])
        out.append(torch.sigmoid(net(images, torch.from_numpy(examples["points"][start:start + batch_size]))).numpy())
    return np.concatenate(out)


def point_auc(visible: np.ndarray, probability: np.ndarray) -> float:
    """AUC of the visibility probability for telling visible points from covered ones (all points pooled)."""
    return float(roc_auc_score(visible.ravel().astype(int), probability.ravel()))


def _examples(path: Path, make) -> dict[str, np.ndarray]:
    """Examples made once and kept beside the output as NPZ (arrays only, read without pickle)."""
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                return {key: saved[key] for key in saved.files}
        except (OSError, ValueError, EOFError) as error:
            raise ValueError(f"{path}: cannot be read ({error}); delete it to make the examples again") from None
    examples = make()
    save_npz(examples, path, compressed=False)
    return examples



def fit_visibility(train_source: FaceSource, eval_source: FaceSource, settings: FitSettings, out: Path,
                   progress: bool = True, log=print) -> dict[str, Any]:
    """Train, judge and save the model to ``out``; returns the metrics. Resumes from files beside ``out``."""
    out = Path(out)
    work = out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    train = _examples(work / "train.npz", lambda: make_examples(
        train_source, settings.samples, settings.train_kinds, settings, settings.seed, settings.probability,
        "occluded training faces", progress))
    held_out = _examples(work / "eval_holdout.npz", lambda: make_examples(
        eval_source, settings.eval_samples, settings.holdout_kinds, settings, settings.seed + 1, 1.0,
        "held-out faces, held-out kinds", progress))
    seen = _examples(work / "eval_seen.npz", lambda: make_examples(
        eval_source, settings.eval_samples, settings.train_kinds, settings, settings.seed + 2, 1.0,
        "held-out faces, training kinds", progress))
    net = VisibilityNet(settings.width, settings.embed)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.epochs)
    start_epoch = 0
    checkpoint = work / "checkpoint.pt"
    if checkpoint.is_file():
        state = load_torch(checkpoint)
        if state["settings"] != dataclasses.asdict(settings):
            raise ValueError(f"{checkpoint}: made with other settings; delete {work} to start again")
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch = state["epoch"]
        log(f"resuming after epoch {start_epoch}")
    n = len(train["images"])
    visible = torch.from_numpy(train["visible"]).float()
    with progress_bar(progress) as bar:
        for epoch in range(start_epoch, settings.epochs):
            net.train()
            order = torch.randperm(n, generator=torch.Generator().manual_seed(settings.seed * 1000 + epoch))
            steps = max(1, n // settings.batch_size)  # fewer examples than a batch: one short batch
            task = bar.add_task(f"epoch {epoch + 1}/{settings.epochs}", total=steps, info="")
            total = 0.0
            for step in range(steps):
                idx = order[step * settings.batch_size:(step + 1) * settings.batch_size].numpy()
                logits = net(normalise(train["images"][idx]), torch.from_numpy(train["points"][idx]))
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, visible[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item()
                bar.update(task, advance=1, info=f"loss {total / (step + 1):.3f}")
            scheduler.step()
            auc = point_auc(held_out["visible"], predict(net, held_out))
            bar.update(task, info=f"loss {total / max(steps, 1):.3f}  held-out AUC {auc:.3f}")
            save_torch({"settings": dataclasses.asdict(settings), "model": net.state_dict(),
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "epoch": epoch + 1}, checkpoint)
    metrics = {
        "point_auc_heldout_kinds": point_auc(held_out["visible"], predict(net, held_out)),
        "point_auc_training_kinds": point_auc(seen["visible"], predict(net, seen)),
        "heldout_covered_share": float(1 - held_out["visible"].mean()),
        "eval_faces": int(len(held_out["images"])),
    }
    save_model(net, {**dataclasses.asdict(settings), "metrics": metrics}, out)
    return metrics
