"""Ablations (``oadn-bench ablate``): one hyper-parameter over a list of values, as in the paper's Fig. 7.

An ablation file (``ablations/NAME.yaml``) holds ``name, description, param, values, paper_value, seeds, root,
base`` (a run configuration). ``param`` is an alias (T, K, lambda, sigma, backbone) or any dotted key. Every
point is an ordinary suite run (same identity rule: finished points are reused, interrupted ones resumed).
With ``at_test`` (settings whose role is test-time, T and sigma: they act in the forward pass, not on the
weights) ONE model, trained at the ablation's base value, is scored at every value without retraining.

Outputs in the report folder: ``ablation.csv`` (param, value, kind, seed, column, count, accuracy,
mean_class_accuracy, status, run_dir) and ``ablation.json``, then the report (``oadn.report.render_ablation_report``:
the Fig. 7-style plot, ``ablation.md``, ``index.html``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import pandas as pd

from oadn.common import yaml_data
from oadn.common.commands import command_line
from oadn.config import TEST_TIME, ConfigError, build_config, config_to_dict, keys_with_role, load_yaml, merge
from oadn.engine.evaluate import evaluate_missing
from oadn.engine.run_dir import load_metrics
from oadn.experiments.planning import ExperimentPlan
from oadn.experiments.running import RunRequest, finish_report, plan_and_train, score_columns
from oadn.experiments.suites import Experiment, Suite, builtin_dir, check_keys, check_types, parse_columns
from oadn.report import render_ablation_report
from oadn.report.ablation_report import ABLATION_INPUTS, ABLATION_OUTPUTS
from oadn.report.ablation_report import COLUMNS as CSV_COLUMNS
from oadn.report.figure_names import figure_name
from oadn.report.manifest import ManifestRow
from oadn.report.output import claim, refuse_foreign

ALIASES = {"T": "model.threshold", "K": "model.regions", "lambda": "model.lam", "sigma": "model.sigma",
           "backbone": "model.backbone"}
ABLATION_KEYS = {"name", "description", "param", "values", "paper_value", "seeds", "root", "base"}


def ablations_dir() -> Path:
    return builtin_dir("oadn._ablations", "ablations")


@dataclass
class Ablation:
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


def read_ablation_file(path: Path) -> Ablation:
    """An ablation file; every key is checked, errors name the file."""
    values = load_yaml(path)
    check_keys(values, ABLATION_KEYS, str(path))
    for required in ("param", "values"):
        if required not in values:
            raise ValueError(f"{path}: an ablation needs '{required}'")
    check_types(values, str(path))
    return Ablation(name=values.get("name", path.stem), description=values.get("description", ""),
                    param=values["param"], values=list(values["values"]), paper_value=values.get("paper_value"),
                    seeds=list(values.get("seeds", [0])), root=values.get("root"), base=values.get("base") or {})


def resolve_ablation(name: str | None, param: str | None, dataset: str | None) -> Ablation:
    """An ablation by file or built-in ``name``; else by ``param`` (and ``dataset``): ``<dataset>-<param>.yaml``,
    else ``<param>.yaml`` moved onto ``dataset``, else a bare ablation over ``dataset`` that needs ``--values``."""
    if name is not None:
        path = Path(name) if Path(name).is_file() else ablations_dir() / f"{name}.yaml"
        if not path.is_file():
            names = ", ".join(p.stem for p in sorted(ablations_dir().glob("*.yaml")))
            raise FileNotFoundError(f"no ablation {name!r}: not a file, and not a built-in ablation ({names})")
        found = read_ablation_file(path)
        if param is not None and ALIASES.get(param, param) != found.key:
            raise ConfigError(f"--param {param}: ablation {name!r} varies {found.param} ({found.key}), not "
                              f"{ALIASES.get(param, param)}; drop --param, or ablate it with "
                              f"{command_line('--param', param)} alone")
        if dataset is not None and found.base.get("data", {}).get("name") != dataset:
            raise ConfigError(f"--dataset {dataset}: ablation {name!r} runs on "
                              f"{found.base.get('data', {}).get('name', 'synthetic')}; drop --dataset, or use "
                              f"{command_line('--param', found.param, '--dataset', dataset)}")
        return found
    if param is None:
        raise ValueError("pass --param NAME (T, K, lambda, sigma, backbone or a dotted config key) or --sweep NAME")
    folder = ablations_dir()
    for candidate in ([f"{dataset}-{param}"] if dataset else []) + [param]:
        if (folder / f"{candidate}.yaml").is_file():
            found = read_ablation_file(folder / f"{candidate}.yaml")
            if dataset and found.base.get("data", {}).get("name") != dataset:
                found.base = merge(found.base, {"data": {"name": dataset}})
                found.base["data"]["options"] = {}  # the other data set's protocol options do not carry over
                found.base["data"].pop("test_splits", None)
                found.root, found.name = None, f"{dataset}-{param}"
            return found
    return Ablation(name=f"{dataset or 'synthetic'}-{param}", description=f"{param} on {dataset or 'synthetic'}",
                    param=param, values=[], paper_value=None, seeds=[0], root=None,
                    base={"data": {"name": dataset or "synthetic"}})


def _label(ablation: Ablation, value: Any) -> str:
    return f"{ablation.param}={value}"


def ablation_suite(ablation: Ablation, at_test: bool, overrides: list[str]) -> Suite:
    """The ablation as a one-experiment suite: one method per value (or, at test, one method at the base value)."""
    trained = build_config(base=ablation.base, overrides=overrides)
    if at_test:
        test_time = keys_with_role(TEST_TIME, method=trained.model.name)
        if ablation.key not in test_time:
            names = {key: alias for alias, key in ALIASES.items()}
            raise ValueError(f"--at-test works for the test-time settings of {trained.model.name} "
                             f"({' and '.join(names.get(key, key) for key in test_time) or 'none'}), "
                             f"not {ablation.param}")
        value = reduce(lambda node, part: node[part], ablation.key.split("."), config_to_dict(trained))
        methods = {f"trained at {_label(ablation, value)}": {}}
    else:
        methods = {_label(ablation, v): _nested(ablation.key, v) for v in ablation.values}
    columns = parse_columns(None, {"data": {"test_splits": trained.data.test_splits}}, "Fig. 7", ablation.name)
    experiment = Experiment(id=ablation.name, title=ablation.description or ablation.name, table="Fig. 7",
                            root=ablation.root, config=ablation.base, methods=methods, columns=columns)
    return Suite(name=f"ablate-{ablation.name}", description=ablation.description, seeds=ablation.seeds,
                 experiments=[experiment])


def run_ablation(ablation: Ablation, report_dir: Path, request: RunRequest, *, at_test: bool = False
                 ) -> pd.DataFrame | None:
    """Train (or reuse) every point, score it, write ablation.csv/json and the report; returns the CSV's table."""
    if not ablation.values:
        raise ValueError(f"ablation {ablation.name!r} has no values: pass --values a,b,c")
    started = time.perf_counter()
    refuse_foreign(Path(report_dir), ABLATION_INPUTS + ABLATION_OUTPUTS + (figure_name("ablation", ablation.param),))
    # before any training, not after it
    suite = ablation_suite(ablation, at_test, request.overrides)
    trained = plan_and_train(suite, request)
    if trained is None:
        if at_test:
            request.log(f"then scored at {ablation.param} = {', '.join(map(str, ablation.values))} without retraining")
        return None
    plans, summary = trained
    if at_test:
        rows = _at_test_rows(ablation, plans[0], request)
    else:
        rows = _retrained_rows(ablation, score_columns(suite, plans, request))
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    report_dir = Path(report_dir)
    claim(report_dir, ["ablation.csv"])
    table.to_csv(report_dir / "ablation.csv", index=False)
    info = {"param": ablation.param, "dataset": plans[0].data.adapter.name, "paper_value": ablation.paper_value,
            "values": ablation.values, "kind": "at-test" if at_test else "retrained",
            "description": ablation.description}
    finish_report(report_dir, "ablation.json", info, started, render_ablation_report, "ablation.md", summary,
                  request.log, "ablation")
    return table


def _retrained_rows(ablation: Ablation, manifest: list[ManifestRow]) -> list[dict[str, Any]]:
    by_label = {_label(ablation, v): v for v in ablation.values}
    rows = []
    for entry in manifest:
        # an ablation's columns are its runs' own test splits (ablation_suite), scored in the run's metrics.json
        finished = entry.status == "finished"
        figure = load_metrics(entry.run_dir)["splits"][entry.split]["prediction"] if finished else {}
        rows.append({"param": ablation.param, "value": by_label[entry.method], "kind": "retrained",
                     "seed": entry.seed, "column": entry.column, "count": figure.get("count"),
                     "accuracy": figure.get("accuracy"), "mean_class_accuracy": figure.get("mean_class_accuracy"),
                     "status": entry.status, "run_dir": entry.run_dir})
    return rows


def _at_test_rows(ablation: Ablation, plan: ExperimentPlan, request: RunRequest) -> list[dict[str, Any]]:
    field = ablation.key.split(".", 1)[1]
    splits = list(dict.fromkeys(column.column.split for column in plan.columns))
    rows = []
    for run in plan.runs:
        finished = run.run_dir is not None and (Path(run.run_dir) / "metrics.json").is_file()
        for value in ablation.values:
            scored = evaluate_missing(run.run_dir, splits, model_overrides={field: value}, progress=request.progress,
                                      log=request.log)[1] if finished else {}
            for column in plan.columns:
                metrics = scored.get(column.column.split, {}).get("prediction", {})
                rows.append({"param": ablation.param, "value": value, "kind": "at-test", "seed": run.seed,
                             "column": column.column.name, "count": metrics.get("count"),
                             "accuracy": metrics.get("accuracy"),
                             "mean_class_accuracy": metrics.get("mean_class_accuracy"),
                             "status": "finished" if finished else "unfinished", "run_dir": str(run.run_dir or "")})
    return rows


def parse_values(text: str | None) -> list[Any] | None:
    """``0.1,0.2`` -> [0.1, 0.2]; each value is read as YAML (numbers stay numbers, names stay strings)."""
    if text is None:
        return None
    return [yaml_data.load(part) for part in text.split(",") if part.strip()]
