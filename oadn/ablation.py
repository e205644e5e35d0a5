"""Ablation sweeps (``oadn-bench ablate``): one hyper-parameter over a list of values, as in the paper's Fig. 7.

A sweep file (``ablations/NAME.yaml``) holds ``name, description, param, values, paper_value, seeds, root,
base`` (a run configuration). ``param`` is an alias (T, K, lambda, sigma, backbone) or any dotted key. Every
point is an ordinary suite run (same identity rule: finished points are reused, interrupted ones resumed).
With ``at_test`` (T and sigma only: they act in the forward pass, not on the weights' shapes) ONE model, trained
at the sweep's base value, is scored at every value without retraining.

Outputs in the report folder: ``ablation.csv`` (param, value, kind, seed, column, count, accuracy,
mean_class_accuracy, status, run_dir) and ``ablation.json``, then the report (``oadn.report.render_ablation_report``:
the Fig. 7-style plot, ``ablation.md``, ``index.html``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import yaml

from oadn.config import build_config, load_yaml, merge
from oadn.engine.checkpoint_eval import TEST_TIME_MODEL_KEYS, evaluate_missing
from oadn.planning import DataLocations
from oadn.report import render_ablation_report
from oadn.report.ablation_report import COLUMNS as CSV_COLUMNS
from oadn.runs import load_metrics
from oadn.suite import Experiment, Suite, _columns, _unknown, builtin_dir
from oadn.suite_run import plan_and_train, score_columns

Log = Callable[[str], None]
ALIASES = {"T": "model.threshold", "K": "model.regions", "lambda": "model.lam", "sigma": "model.sigma",
           "backbone": "model.backbone"}
SWEEP_KEYS = {"name", "description", "param", "values", "paper_value", "seeds", "root", "base"}


def sweeps_dir() -> Path:
    return builtin_dir("oadn._ablations", "ablations")


@dataclass
class Sweep:
    name: str
    description: str
    param: str  # as the user wrote it (alias or dotted key)
    values: list[Any]
    paper_value: Any
    seeds: list[int]
    root: str | None
    base: dict[str, Any]

    @property
    def key(self) -> str:
        return ALIASES.get(self.param, self.param)


def _nested(key: str, value: Any) -> dict[str, Any]:
    return reduce(lambda inner, part: {part: inner}, reversed(key.split(".")), value)


def load_sweep(path: Path) -> Sweep:
    values = load_yaml(path)
    _unknown(values, SWEEP_KEYS, str(path))
    for required in ("param", "values"):
        if required not in values:
            raise ValueError(f"{path}: a sweep needs '{required}'")
    return Sweep(name=values.get("name", path.stem), description=values.get("description", ""), param=values["param"],
                 values=list(values["values"]), paper_value=values.get("paper_value"),
                 seeds=list(values.get("seeds", [0])), root=values.get("root"), base=values.get("base") or {})


def resolve_sweep(sweep: str | None, param: str | None, dataset: str | None) -> Sweep:
    """A sweep by file or name; else by ``param`` (and ``dataset``): ``<dataset>-<param>.yaml``, else
    ``<param>.yaml`` moved onto ``dataset``, else a bare sweep over ``dataset`` that needs ``--values``."""
    if sweep is not None:
        path = Path(sweep) if Path(sweep).is_file() else sweeps_dir() / f"{sweep}.yaml"
        if not path.is_file():
            names = ", ".join(p.stem for p in sorted(sweeps_dir().glob("*.yaml")))
            raise FileNotFoundError(f"no sweep {sweep!r}: not a file, and not a built-in sweep ({names})")
        return load_sweep(path)
    if param is None:
        raise ValueError("pass --param NAME (T, K, lambda, sigma, backbone or a dotted config key) or --sweep NAME")
    folder = sweeps_dir()
    for name in ([f"{dataset}-{param}"] if dataset else []) + [param]:
        if (folder / f"{name}.yaml").is_file():
            found = load_sweep(folder / f"{name}.yaml")
            if dataset and found.base.get("data", {}).get("name") != dataset:
                found.base = merge(found.base, {"data": {"name": dataset}})
                found.base["data"]["options"] = {}  # the other data set's protocol options do not carry over
                found.base["data"].pop("test_splits", None)
                found.root, found.name = None, f"{dataset}-{param}"
            return found
    return Sweep(name=f"{dataset or 'synthetic'}-{param}", description=f"{param} on {dataset or 'synthetic'}",
                 param=param, values=[], paper_value=None, seeds=[0], root=None,
                 base={"data": {"name": dataset or "synthetic"}})


def _label(sweep: Sweep, value: Any) -> str:
    return f"{sweep.param}={value}"


def sweep_suite(sweep: Sweep, at_test: bool, overrides: Iterable[str]) -> Suite:
    """The sweep as a one-experiment suite: one method per value (or, at test, one method at the base value)."""
    trained = build_config(base=sweep.base, overrides=overrides)
    if at_test:
        if sweep.key not in {f"model.{key}" for key in TEST_TIME_MODEL_KEYS}:
            raise ValueError(f"--at-test works for T and sigma (test-time settings), not {sweep.param}")
        value = reduce(lambda node, part: getattr(node, part), sweep.key.split("."), trained)
        methods = {f"trained at {_label(sweep, value)}": {}}
    else:
        methods = {_label(sweep, v): _nested(sweep.key, v) for v in sweep.values}
    columns = _columns(None, {"data": {"test_splits": trained.data.test_splits}}, "Fig. 7", sweep.name)
    experiment = Experiment(id=sweep.name, title=sweep.description or sweep.name, table="Fig. 7", root=sweep.root,
                            config=sweep.base, methods=methods, columns=columns)
    return Suite(name=f"ablate-{sweep.name}", description=sweep.description, seeds=sweep.seeds, experiments=[experiment])


def run_ablation(
    sweep: Sweep,
    runs_root: Path,
    report_dir: Path,
    locations: DataLocations,
    *,
    at_test: bool = False,
    overrides: Iterable[str] = (),
    executor: str = "local",
    executor_options: dict[str, Any] | None = None,
    dry_run: bool = False,
    progress: bool = True,
    log: Log = print,
) -> pd.DataFrame | None:
    """Train (or reuse) every point, score it, write ablation.csv/json and the report; returns the CSV's table."""
    if not sweep.values:
        raise ValueError(f"sweep {sweep.name!r} has no values: pass --values a,b,c")
    started = time.perf_counter()
    overrides = list(overrides)
    suite = sweep_suite(sweep, at_test, overrides)
    trained = plan_and_train(suite, runs_root, locations, overrides=overrides, executor=executor,
                             executor_options=executor_options, dry_run=dry_run, progress=progress, log=log)
    if trained is None:
        if at_test:
            log(f"then scored at {sweep.param} = {', '.join(map(str, sweep.values))} without retraining")
        return None
    plans, summary = trained
    if at_test:
        rows = _at_test_rows(sweep, plans[0], progress, log)
    else:
        manifest = score_columns(suite, plans, locations, progress, log)
        rows = _retrained_rows(sweep, manifest)
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(report_dir / "ablation.csv", index=False)
    (report_dir / "ablation.json").write_text(json.dumps({
        "param": sweep.param, "dataset": plans[0].data.adapter.name, "paper_value": sweep.paper_value,
        "values": sweep.values, "kind": "at-test" if at_test else "retrained", "description": sweep.description,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }, indent=2, default=str) + "\n")
    path = render_ablation_report(report_dir)
    log((report_dir / "ablation.md").read_text())
    for line in summary.lines():
        log(line)
    log(f"ablation written to {path}")
    return table


def _retrained_rows(sweep: Sweep, manifest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_label = {_label(sweep, v): v for v in sweep.values}
    rows = []
    for entry in manifest:
        # a sweep's columns are its runs' own test splits (sweep_suite), scored in the run's metrics.json
        figure = load_metrics(entry["run_dir"])["splits"][entry["split"]]["prediction"] if entry["status"] == "finished" else {}
        rows.append({"param": sweep.param, "value": by_label[entry["method"]], "kind": "retrained", "seed": entry["seed"],
                     "column": entry["column"], "count": figure.get("count"), "accuracy": figure.get("accuracy"),
                     "mean_class_accuracy": figure.get("mean_class_accuracy"), "status": entry["status"],
                     "run_dir": entry["run_dir"]})
    return rows


def _at_test_rows(sweep, plan, progress, log) -> list[dict[str, Any]]:
    field = sweep.key.split(".", 1)[1]
    splits = list(dict.fromkeys(column.column.split for column in plan.columns))
    rows = []
    for run in plan.runs:
        finished = run.run_dir is not None and (Path(run.run_dir) / "metrics.json").is_file()
        for value in sweep.values:
            scored = evaluate_missing(run.run_dir, splits, model_overrides={field: value}, progress=progress,
                                      log=log)[1] if finished else {}
            for column in plan.columns:
                metrics = scored.get(column.column.split, {}).get("prediction", {})
                rows.append({"param": sweep.param, "value": value, "kind": "at-test", "seed": run.seed,
                             "column": column.column.name, "count": metrics.get("count"),
                             "accuracy": metrics.get("accuracy"), "mean_class_accuracy": metrics.get("mean_class_accuracy"),
                             "status": "finished" if finished else "unfinished", "run_dir": str(run.run_dir or "")})
    return rows


def parse_values(text: str | None) -> list[Any] | None:
    """``0.1,0.2`` -> [0.1, 0.2]; each value is read as YAML (numbers stay numbers, names stay strings)."""
    if text is None:
        return None
    return [yaml.safe_load(part) for part in text.split(",") if part.strip()]
