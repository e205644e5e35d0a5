"""The visibility model's AUC on FERPlus: the robustness figure a suite cannot give (it scores a landmark scorer,
not a trained run). Every accuracy column of the robustness study is the ``robustness`` suite's.

Image-level: the Occlusion-FERPlus faces against as many other FERPlus test faces, ranked by the share of
interest points the visibility model puts below T (and by its mean invisibility); point-level on pasted
columns, against the points each occluder covers. Column faces are made once and kept under ``<out>/columns``.

    python benchmarks/visibility_auc.py --root /work/shared/data/ferplus --cache-dir /work/cache \
        --visibility visibility.pt --out reports/visibility
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from oadn.common.progress import progress_bar
from oadn.data.faces import SubsetSource
from oadn.data.geometry import interest_points
from oadn.data.landmarks.visibility import VisibilityScorer
from oadn.data.occlusion import OccludedSource
from oadn.data.registry import get_dataset
from oadn.preprocess.visibility_fit import point_auc


def column_path(out: Path, name: str, kind: str | None, args, image_size: int) -> Path:
    """Where a column's faces are kept: the name says everything they depend on, so a run with another face size,
    protocol, occluder seed or draw never reuses them."""
    stem = f"{name.replace(' ', '_').replace('%', '')}-{args.protocol}-{image_size}px"
    if kind is not None:
        stem += f"-seed{args.occluder_seed}-n{args.limit}"
    return out / "columns" / f"{stem}.npz"


def build_column(dataset: str, kind: str | None, area: float | None, args, image_size: int, path: Path) -> dict:
    """Faces of one test column (occluders pasted as the ``occluded`` data set pastes them, when ``kind``), with
    the points each occluder covers; cached as an .npz."""
    if path.is_file():
        with np.load(path, allow_pickle=False) as saved:
            return {k: saved[k] for k in saved.files}
    source = get_dataset(dataset, protocol=args.protocol).open_split(
        "test", root=args.root, image_size=image_size, cache_dir=args.cache_dir)
    if kind is not None and args.limit < len(source):  # pasting is the slow part: a fixed draw of test faces
        source = SubsetSource(source, np.sort(
            np.random.default_rng(args.occluder_seed).permutation(len(source))[: args.limit]))
    occluded = OccludedSource(source, kinds=(kind or "none",), area=area, probability=1.0, seed=args.occluder_seed,
                              scores="backend")
    images, landmarks, covered = [], [], []
    with progress_bar() as bar:
        task = bar.add_task(path.stem, total=len(source), info="")
        for start in range(0, len(source), 256):
            batch = occluded.read(np.arange(start, min(start + 256, len(source))))
            images.append(batch.full_images())
            landmarks.append(batch.landmarks)
            covered.append(batch.hidden & (batch.landmarks[..., 2] > 0))  # the oracle's rule
            bar.advance(task, len(batch))
    column = {"images": np.concatenate(images), "landmarks": np.concatenate(landmarks).astype(np.float32),
              "covered": np.concatenate(covered), "labels": np.asarray(source.labels, dtype=np.int64),
              "ids": np.asarray(source.image_ids, dtype=str)}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **column)
    return column


def learned(column: dict, scorer: VisibilityScorer | None) -> np.ndarray:
    """The column's landmarks scored by the visibility model (computed once per column)."""
    landmarks = column["landmarks"].copy()
    if "learned" not in column:
        probabilities = [scorer.probabilities(column["images"][s:s + 512], landmarks[s:s + 512])
                         for s in range(0, len(landmarks), 512)]
        column["learned"] = np.concatenate(probabilities).astype(np.float32)
    landmarks[..., 2] = np.where(landmarks[..., 2] > 0, column["learned"], 0.0)
    return landmarks


def kept_share(landmarks: np.ndarray, image_size: int, threshold: float) -> np.ndarray:
    """Per face, the share of the 24 interest points scoring at least ``threshold``."""
    points = interest_points(torch.from_numpy(landmarks), image_size).numpy()
    return (points[..., 2] >= threshold).mean(axis=1)


def columns_spec(kinds: list[str], areas: list[float]) -> list[tuple[str, str, str | None, float | None]]:
    spec = [("FERPlus test", "ferplus", None, None), ("Occlusion-FERPlus", "occlusion-ferplus", None, None)]
    return spec + [(f"{kind} {area:.0%}", "ferplus", kind, area) for kind in kinds for area in areas]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--visibility", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--protocol", default="official")
    parser.add_argument("--kinds", default="eyes,mouth,random")
    parser.add_argument("--areas", default="0.15,0.3")
    parser.add_argument("--occluder-seed", type=int, default=1234)
    parser.add_argument("--limit", type=int, default=1500, help="test faces per pasted column (a fixed draw)")
    parser.add_argument("--image-size", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    scorer = VisibilityScorer.load(args.visibility)
    spec = columns_spec(args.kinds.split(","), [float(a) for a in args.areas.split(",")])
    columns = {name: build_column(ds, kind, area, args, args.image_size,
                                  column_path(args.out, name, kind, args, args.image_size))
               for name, ds, kind, area in spec}
    for column in columns.values():
        learned(column, scorer)
    auc = visibility_auc(columns, args.image_size)
    auc["wall_time_s"] = round(time.perf_counter() - started)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"visibility_auc_{args.visibility.stem}.json").write_text(json.dumps(auc, indent=2) + "\n")
    print(json.dumps(auc, indent=2))


def visibility_auc(columns: dict, image_size: int, threshold: float = 0.6, seed: int = 0) -> dict:
    """Image-level AUC: the 605 Occlusion-FERPlus faces against as many other FERPlus test faces, scored by the
    share of interest points the visibility model puts below T; plus the model's per-point AUC on pasted columns."""
    natural, test = columns["Occlusion-FERPlus"], columns["FERPlus test"]
    others = np.flatnonzero(~np.isin(test["ids"], natural["ids"]))
    pick = np.random.default_rng(seed).choice(others, size=min(len(natural["ids"]), len(others)), replace=False)
    dropped_natural = 1 - kept_share(learned(natural, None), image_size, threshold)
    dropped_other = 1 - kept_share(learned(test, None)[pick], image_size, threshold)
    truth = np.r_[np.ones(len(dropped_natural)), np.zeros(len(dropped_other))]
    mean_natural = 1 - natural["learned"][natural["landmarks"][..., 2].max(axis=1) > 0].mean(axis=1)
    mean_other = 1 - test["learned"][pick][test["landmarks"][pick][..., 2].max(axis=1) > 0].mean(axis=1)
    truth_mean = np.r_[np.ones(len(mean_natural)), np.zeros(len(mean_other))]
    result = {"image_auc_occlusion_ferplus_vs_other":
                  float(roc_auc_score(truth, np.r_[dropped_natural, dropped_other])),
              "image_auc_by_mean_invisibility": float(roc_auc_score(truth_mean, np.r_[mean_natural, mean_other])),
              "threshold": threshold, "occluded_images": int(len(dropped_natural)), "other_images": int(len(pick))}
    for name, column in columns.items():
        if column["covered"].any():
            found = column["landmarks"][..., 2] > 0
            result[f"point_auc {name}"] = point_auc(~column["covered"][found], column["learned"][found])
    return result


if __name__ == "__main__":
    main()
