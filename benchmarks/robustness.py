"""The robustness table: every finished run of a suite on FERPlus test, Occlusion-FERPlus and FERPlus test with
pasted occluders, each under three landmark-score modes, plus the visibility model's image-level AUC.

Score modes: ``dlib`` (the cache's scores: all 1.0, nothing dropped), ``oracle`` (points under a pasted mask get
0; the same as dlib where nothing was pasted) and ``learned`` (the visibility model's probabilities). Pasted
faces are made once per column and kept under ``<out>/columns`` (they are the slow part), so every run and mode
is scored on the very same pixels.

    python benchmarks/robustness.py --runs runs/robustness --root /work/shared/data/ferplus \
        --cache-dir /work/cache --visibility visibility.pt --out reports/robustness
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from oadn.common.progress import progress_bar
from oadn.data.faces import FaceRecord, SubsetSource
from oadn.data.geometry import interest_points
from oadn.data.landmarks.visibility import VisibilityScorer
from oadn.data.occluders.canvas import points_under
from oadn.data.occlusion import OccludedSource
from oadn.data.registry import get_dataset
from oadn.engine.predict import metrics_by_branch, predict
from oadn.engine.run_dir import load_config
from oadn.models import create_model
from oadn.preprocess.visibility_fit import point_auc
from oadn.report.stats import mcnemar

MODES = ("dlib", "oracle", "learned")


class MemorySource:
    """A FaceSource over arrays already in memory (one column under one score mode)."""

    def __init__(self, column: dict[str, np.ndarray], landmarks: np.ndarray, classes: tuple[str, ...]):
        self.column, self._landmarks, self.classes = column, landmarks, classes

    def __len__(self) -> int:
        return len(self.column["labels"])

    @property
    def labels(self) -> np.ndarray:
        return self.column["labels"]

    @property
    def image_ids(self) -> list[str]:
        return list(self.column["ids"])

    def __getitem__(self, i: int) -> FaceRecord:
        return FaceRecord(self.column["images"][i], self._landmarks[i].copy(), int(self.column["labels"][i]),
                          str(self.column["ids"][i]))


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
        for i in range(len(source)):
            record, mask = occluded.occlude_record(source[i])
            images.append(record.image)
            landmarks.append(record.landmarks)
            covered.append(points_under(mask, record.landmarks) & (record.landmarks[:, 2] > 0))  # the oracle's rule
            bar.advance(task)
    column = {"images": np.stack(images), "landmarks": np.stack(landmarks).astype(np.float32),
              "covered": np.stack(covered), "labels": np.asarray(source.labels, dtype=np.int64),
              "ids": np.asarray(source.image_ids, dtype=str)}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **column)
    return column


def scored(column: dict, mode: str, scorer: VisibilityScorer | None) -> np.ndarray:
    """The column's landmarks with scores set by ``mode``."""
    landmarks = column["landmarks"].copy()
    found = landmarks[..., 2] > 0
    if mode == "oracle":
        landmarks[column["covered"], 2] = 0.0
    elif mode == "learned":
        if "learned" not in column:
            probabilities = [scorer.probabilities(column["images"][s:s + 512], landmarks[s:s + 512])
                             for s in range(0, len(landmarks), 512)]
            column["learned"] = np.concatenate(probabilities).astype(np.float32)
        landmarks[..., 2] = np.where(found, column["learned"], 0.0)
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
    parser.add_argument("--runs", type=Path, required=True, help="suite runs folder: <runs>/<method>/seed<N>/")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--visibility", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--protocol", default="official")
    parser.add_argument("--kinds", default="eyes,mouth,random")
    parser.add_argument("--areas", default="0.15,0.3")
    parser.add_argument("--occluder-seed", type=int, default=1234)
    parser.add_argument("--limit", type=int, default=1500, help="test faces per pasted column (a fixed draw)")
    parser.add_argument("--auc-only", action="store_true", help="only the visibility model's image-level AUC")
    parser.add_argument("--image-size", type=int, default=48, help="face size for --auc-only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    scorer = VisibilityScorer.load(args.visibility)
    if args.auc_only:
        spec = columns_spec([], [])
        columns = {name: build_column(ds, None, None, args, args.image_size,
                                      column_path(args.out, name, None, args, args.image_size))
                   for name, ds, *_ in spec}
        for column in columns.values():
            scored(column, "learned", scorer)
        auc = visibility_auc(columns, args.image_size, args)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"visibility_auc_{args.visibility.stem}.json").write_text(json.dumps(auc, indent=2) + "\n")
        print(json.dumps(auc, indent=2))
        return
    runs = sorted(p.parent for p in args.runs.glob("*/seed*/best.pt") if (p.parent / "metrics.json").is_file())
    if not runs:
        raise SystemExit(f"no finished run under {args.runs}")
    image_size = load_config(runs[0]).data.image_size
    spec = columns_spec(args.kinds.split(","), [float(a) for a in args.areas.split(",")])
    columns = {name: build_column(ds, kind, area, args, image_size, column_path(args.out, name, kind, args, image_size))
               for name, ds, kind, area in spec}
    classes = get_dataset("ferplus").classes
    rows, correct = [], {}
    for run_dir in runs:
        config = load_config(run_dir)
        model = create_model(config.model, len(classes), config.data.image_size)
        model.load_state_dict(torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True))
        method, seed = run_dir.parent.name, config.train.seed
        for name, column in columns.items():
            for mode in MODES:
                landmarks = scored(column, mode, scorer)
                # a model that never reads landmark scores, or oracle where nothing was pasted: the dlib figures
                if mode != "dlib" and (not model.uses_landmarks or (mode == "oracle" and not column["covered"].any())):
                    rows.append({**rows[-1], "mode": mode})
                    if model.uses_landmarks:  # compared in the paired table, where it shows as no difference
                        correct[(method, seed, name, mode)] = correct[(method, seed, name, "dlib")]
                    continue
                frame, _ = predict(model, MemorySource(column, landmarks, classes), device=torch.device("cpu"),
                                   batch_size=256, amp=False, description=f"{method} {name} {mode}", progress=False)
                metrics = metrics_by_branch(frame, classes)
                correct[(method, seed, name, mode)] = (frame["pred_prediction"] == frame["label"]).to_numpy()
                share = kept_share(landmarks, image_size, config.model.threshold)
                rows.append({"method": method, "uses_landmarks": model.uses_landmarks, "seed": seed, "column": name,
                             "mode": mode, "count": len(frame),
                             "accuracy": metrics["prediction"]["accuracy"],
                             "mean_class_accuracy": metrics["prediction"]["mean_class_accuracy"],
                             "lab_accuracy": metrics.get("lab", {}).get("accuracy", np.nan),
                             "frb_accuracy": metrics.get("frb", {}).get("accuracy", np.nan),
                             "kept_points": float(share.mean()), "faces_without_points": float((share == 0).mean())})
        print(f"{run_dir}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    results = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out / "robustness.csv", index=False)
    table = results.groupby(["method", "mode", "column"], sort=False)["accuracy"].agg(["mean", "std", "count"])
    cells = table.apply(lambda r: f"{100 * r['mean']:.2f}" + (f" ± {100 * r['std']:.2f}" if r["count"] > 1 else ""),
                        axis=1)
    wide = cells.unstack("column")[[name for name, *_ in spec]]
    auc = visibility_auc(columns, image_size, args)
    lines = [f"# Robustness ({args.runs})", "",
             "Accuracy % on FERPlus test columns (official protocol, majority labels); "
             f"rows: method / landmark-score mode; seeds: {sorted(results['seed'].unique().tolist())} "
             "(mean ± sample std when several).", "", wide.to_markdown(), "",
             "Share of the 24 interest points kept (score >= T), runs of models that read landmarks:", "",
             results[results["uses_landmarks"]].groupby(["mode", "column"], sort=False)["kept_points"]
             .mean().unstack("column")[[name for name, *_ in spec]].round(3).to_markdown(), "",
             "Paired comparison of score modes on the same faces and model (McNemar's test on the faces where the "
             "two disagree: exact binomial below 25 of them, else chi-square with continuity correction; difference "
             "in accuracy points):", "", paired_table(correct).to_markdown(), "",
             f"Visibility model {args.visibility}: {json.dumps(auc)}", "",
             f"Wall time of this script: {time.perf_counter() - started:.0f} s"]
    (args.out / "robustness.md").write_text("\n".join(lines) + "\n")
    (args.out / "visibility_auc.json").write_text(json.dumps(auc, indent=2) + "\n")
    print("\n".join(lines))


def paired_table(correct: dict) -> pd.DataFrame:
    """Per run of a landmark-reading model and column: oracle and learned against dlib, accuracy difference and
    McNemar's test (as the suite reports test)."""
    rows = []
    for (method, seed, column, mode), right in correct.items():
        if mode == "dlib":
            continue
        base = correct[(method, seed, column, "dlib")]
        test = mcnemar(right, base)
        rows.append({"method": method, "seed": seed, "column": column, "mode": f"{mode} - dlib",
                     "diff": round(100 * (right.mean() - base.mean()), 2), "gained": test.only_first,
                     "lost": test.only_second, "p": round(test.p_value, 4)})
    return pd.DataFrame(rows).set_index(["method", "seed", "column", "mode"]) if rows else pd.DataFrame()


def visibility_auc(columns: dict, image_size: int, args, threshold: float = 0.6, seed: int = 0) -> dict:
    """Image-level AUC: the 605 Occlusion-FERPlus faces against as many other FERPlus test faces, scored by the
    share of interest points the visibility model puts below T; plus the model's per-point AUC on pasted columns."""
    natural, test = columns["Occlusion-FERPlus"], columns["FERPlus test"]
    others = np.flatnonzero(~np.isin(test["ids"], natural["ids"]))
    pick = np.random.default_rng(seed).choice(others, size=min(len(natural["ids"]), len(others)), replace=False)
    dropped_natural = 1 - kept_share(scored(natural, "learned", None), image_size, threshold)
    dropped_other = 1 - kept_share(scored(test, "learned", None)[pick], image_size, threshold)
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
