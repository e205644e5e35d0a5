"""Benchmark suites: a YAML file naming methods (config overrides over a shared base) and seeds.

``run_suite`` trains every (method, seed) into its own run directory, reusing finished runs and resuming
interrupted ones, then renders the suite's report: a Markdown table and one confusion matrix per method and
test split (summed over seeds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from oadn.config import RunConfig, build_config, load_yaml, merge
from oadn.engine.train import train_run
from oadn.report.plots import plot_confusion_matrix
from oadn.report.tables import collect_results, render_markdown, summary_table
from oadn.runs import load_metrics


@dataclass
class Suite:
    name: str
    description: str
    base: dict[str, Any]
    methods: dict[str, dict[str, Any]]
    seeds: list[int] = field(default_factory=lambda: [0])


def builtin_suites() -> list[str]:
    folder = resources.files("oadn") / "configs" / "suites"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name (``oadn/configs/suites/NAME.yaml``) or a suite file by path."""
    path = Path(name_or_path)
    if not path.is_file():
        candidate = resources.files("oadn") / "configs" / "suites" / f"{name_or_path}.yaml"
        if not candidate.is_file():
            raise FileNotFoundError(
                f"no suite {name_or_path!r}: not a file, and not one of the built-in suites "
                f"({', '.join(builtin_suites())})"
            )
        path = Path(str(candidate))
    values = load_yaml(path)
    unknown = sorted(set(values) - {"name", "description", "base", "methods", "seeds"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}")
    if not values.get("methods"):
        raise ValueError(f"{path}: a suite needs a non-empty 'methods' mapping")
    return Suite(
        name=values.get("name", path.stem),
        description=values.get("description", ""),
        base=values.get("base", {}),
        methods=values["methods"],
        seeds=list(values.get("seeds", [0])),
    )


def method_config(suite: Suite, method: str, seed: int, overrides: Iterable[str] = ()) -> RunConfig:
    values = merge(merge(suite.base, suite.methods[method] or {}), {"train": {"seed": seed}})
    values["name"] = f"{suite.name}/{method}/seed{seed}"
    return build_config(base=values, overrides=overrides)


def run_suite(
    suite: Suite,
    runs_root: Path,
    report_dir: Path,
    *,
    overrides: Iterable[str] = (),
    progress: bool = True,
    log=print,
) -> pd.DataFrame:
    """Train (or reuse, or resume) every run of the suite, then write the report; returns the summary table."""
    overrides = list(overrides)
    runs = []
    for method in suite.methods:
        for seed in suite.seeds:
            config = method_config(suite, method, seed, overrides)
            run_dir = Path(runs_root) / suite.name / method / f"seed{seed}"
            started = time.perf_counter()
            if (run_dir / "metrics.json").is_file():
                log(f"{method} seed {seed}: finished run found in {run_dir}, reusing it")
            else:
                resume = (run_dir / "config.yaml").is_file()
                log(f"{method} seed {seed}: {'resuming' if resume else 'training'} in {run_dir}")
                train_run(None if resume else config, run_dir, resume=resume, progress=progress)
                log(f"{method} seed {seed}: done in {time.perf_counter() - started:.0f} s")
            runs.append((method, seed, run_dir))
    return write_report(suite, runs, report_dir)


def write_report(suite: Suite, runs: list[tuple[str, int, Path]], report_dir: Path) -> pd.DataFrame:
    """results.csv (every figure), results.md (summary table), confusion_<method>_<split>.png."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    loaded = [(method, seed, run_dir, load_metrics(run_dir)) for method, seed, run_dir in runs]
    results = collect_results(loaded)
    results.to_csv(report_dir / "results.csv", index=False)
    splits = [s for s in dict.fromkeys(results["split"]) if s != "val"]
    table = summary_table(results, splits)
    notes = [
        "acc = overall accuracy (share of images); mean-class acc = mean of per-class recalls.",
        f"Seeds: {', '.join(map(str, suite.seeds))}; with several seeds a cell is mean ± sample std.",
        "Checkpoints were selected on a validation split carved from training data; test splits were used once.",
        "Per-branch figures (OADN's lab/frb) are in results.csv.",
    ]
    (report_dir / "results.md").write_text(render_markdown(table, suite.description or suite.name, notes))
    for method in dict.fromkeys(m for m, _, _, _ in loaded):
        for split in splits:
            per_seed = [metrics["splits"][split]["prediction"] for m, _, _, metrics in loaded if m == method]
            matrix = np.sum([m["confusion_matrix"] for m in per_seed], axis=0)
            title = f"{method} on {split}: acc {100 * np.mean([m['accuracy'] for m in per_seed]):.1f}%"
            plot_confusion_matrix(matrix, per_seed[0]["classes"], title, report_dir / f"confusion_{method}_{split}.png")
    return table
