"""The engine's commands: ``train``, ``evaluate`` and ``bench`` (registered on the main ``oadn-bench`` app)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from oadn.common.console import console, guarded, show_progress
from oadn.common.plugins import PLUGIN_HELP, load_plugins
from oadn.config import COMPILE_MODES, ConfigError, RunConfig, build_config, parse_options
from oadn.data.cli import OPTION_HELP
from oadn.data.registry import get_dataset

SET_HELP = "Override a configuration value, e.g. --set train.lr=0.01 (repeatable)."
CACHE_HELP = "Cache root of prepared data sets, as given to prepare (default $OADN_CACHE or ~/.cache/oadn-bench)."


def _cache_dir(dataset: str, options: dict[str, Any], cache_dir: Optional[Path],
               configured: Any = None) -> Optional[Path]:
    """``--cache-dir``, else $OADN_CACHE unless the configuration names one (``configured``), for
    data.split_options.cache_dir; only on-disk data sets have a prepared cache, so an explicit --cache-dir for the
    synthetic one is a usage error."""
    if cache_dir is None and configured:
        return None  # the configuration's own choice stands
    chosen = cache_dir or (Path(os.environ["OADN_CACHE"]) if os.environ.get("OADN_CACHE") else None)
    if chosen is None:
        return None
    try:
        needs_cache = get_dataset(dataset, **options).needs_root
    except (KeyError, TypeError, ValueError):
        return None  # the configuration check names the mistake
    if not needs_cache:
        if cache_dir is not None:
            raise ConfigError(f"--cache-dir: data set {dataset!r} is generated, it has no prepared cache")
        return None
    return chosen.expanduser().resolve()


def _with_cache_dir(run_config: RunConfig, cache_dir: Optional[Path]) -> RunConfig:
    """``run_config`` with the cache root :func:`_cache_dir` chooses in its split options."""
    cache = _cache_dir(run_config.data.name, run_config.data.options, cache_dir,
                       run_config.data.split_options.get("cache_dir"))
    if cache is not None:
        run_config.data.split_options = {**run_config.data.split_options, "cache_dir": str(cache)}
    return run_config


def _metrics_table(title: str, splits: dict[str, Any]) -> Table:
    table = Table(title=title)
    for column in ("split", "branch", "n", "acc %", "mean-class acc %"):
        table.add_column(column)
    for split, branches in splits.items():
        for branch, values in branches.items():
            if isinstance(values, dict) and "accuracy" in values:
                table.add_row(
                    split,
                    branch,
                    str(values["count"]),
                    f"{100 * values['accuracy']:.2f}",
                    f"{100 * values['mean_class_accuracy']:.2f}",
                )
    return table


@guarded
def train_command(
    config: list[Path] = typer.Option([], "--config", "-c", help="YAML config file(s), applied in order."),
    overrides: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default runs/<name>)."),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Continue the interrupted run in this directory; with --set, change the settings "
        "listed in docs/configuration.md (learning rate, epochs, ...), recorded in <run>/resume_changes.jsonl."
    ),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
    progress: bool = typer.Option(True, callback=show_progress,
                                  help="Show progress bars (without: one line per epoch)."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Train one model; selects weights on validation data, then evaluates the test splits once."""
    load_plugins(plugin)
    from oadn.engine.run_dir import load_config
    from oadn.engine.train import train_run

    if resume is not None:
        if config:
            raise ConfigError("--resume takes the configuration saved in the run directory; drop --config")
        saved = load_config(resume).data
        cache = _cache_dir(saved.name, saved.options, cache_dir)
        changes = [*overrides] + ([f"data.split_options.cache_dir={json.dumps(str(cache))}"] if cache else [])
        target = resume
        metrics = train_run(None, resume, resume=True, progress=progress, changes=changes)
    else:
        run_config = _with_cache_dir(build_config(config, overrides), cache_dir)
        target = run_dir or Path("runs") / run_config.name
        metrics = train_run(run_config, target, progress=progress)
    from oadn.engine.distributed import is_main

    if is_main():  # under torchrun every rank has the metrics; one table is enough
        console.print(_metrics_table(f"{target} (selected epoch {metrics['selected_epoch']})", metrics["splits"]))


@guarded
def evaluate_command(
    run: Path = typer.Argument(..., help="Run directory of a finished (or at least once validated) run."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set to evaluate on (default: the run's own)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Root of the data set's copy on disk."),
    split: list[str] = typer.Option([], "--split", help="Split(s) to evaluate (default: the test splits)."),
    option: list[str] = typer.Option([], "--option", "-o", help=OPTION_HELP),
    model_option: list[str] = typer.Option([], "--model-option", help="Test-time model setting KEY=VALUE, "
                                           "threshold (T) or sigma, without retraining (repeatable)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="Score the run on a robustness protocol's "
                                           "severity grid instead (occlusion-grid, occlusion-grid-oracle; "
                                           "docs/occlusion.md); written to <run>/robustness/<protocol>/."),
    progress: bool = typer.Option(True, callback=show_progress, help="Show progress bars."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Evaluate a run's selected weights; writes predictions and metrics under <run>/evaluations/."""
    load_plugins(plugin)
    from oadn.engine.evaluate import evaluate_run
    from oadn.engine.run_dir import load_config

    if protocol is not None:
        from oadn.engine.robustness_cli import evaluate_protocol

        evaluate_protocol(run, protocol, data=data, root=root, split=split, option=option, cache_dir=cache_dir,
                          progress=progress)
        return

    options = parse_options(option, "--option", "label_mode=majority")
    model_overrides = parse_options(model_option, "--model-option", "threshold=0.3")
    own = load_config(run).data
    # the cache the run was trained from comes before $OADN_CACHE; --cache-dir before both
    recorded = own.split_options.get("cache_dir") if cache_dir is None else None
    cache = (Path(recorded) if recorded
             else _cache_dir(data or own.name, options if data else own.options, cache_dir))
    results = evaluate_run(
        run, dataset=data, root=root, splits=split or None, options=options, progress=progress,
        split_options={"cache_dir": str(cache)} if cache else None, model_overrides=model_overrides,
    )
    console.print(_metrics_table(f"{run} on {data or 'its own data'}", results))


def _yaml_mapping(text: str, option: str) -> dict[str, Any]:
    """A YAML mapping given on the command line; anything else is a usage error naming the option."""
    import yaml

    from oadn.common import yaml_data

    try:
        value = yaml_data.load(text)  # a key given twice is an error, as in every YAML the tool reads
    except yaml.YAMLError as error:
        raise ConfigError(f"{option} {text!r}: not valid YAML ({error})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{option} {text!r}: expected a mapping, e.g. '{{name: eyes, options: {{kind: eyes}}}}'")
    return value


def _compile_modes_option(modes: list[str]) -> list[str]:
    try:
        from oadn.engine.bench import check_compile_modes

        return list(check_compile_modes(modes))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@guarded
def bench_command(
    config: list[Path] = typer.Option([], "--config", "-c", help="YAML config file(s), applied in order."),
    overrides: list[str] = typer.Option([], "--set", "-s", help="Configuration override, e.g. "
                                        "--set model.backbone=resnet50."),
    steps: int = typer.Option(20, help="Timed steps per measurement."),
    warmup: int = typer.Option(5, help="Untimed steps first (compilation happens here)."),
    repeats: int = typer.Option(4, help="Alternating repeats of the step measurement (median reported)."),
    loop_steps: int = typer.Option(200, help="Batches timed for the input pipeline and for the whole loop."),
    compiled: bool = typer.Option(True, "--compile/--no-compile", help="Also measure torch.compile'd steps."),
    compile_modes: list[str] = typer.Option(["default"], "--compile-mode", callback=_compile_modes_option,
                                            help="torch.compile mode(s) to measure (repeat the option for several): "
                                            f"{', '.join(COMPILE_MODES)}."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every figure to this JSON file."),
    profile_dir: Optional[Path] = typer.Option(None, "--profile", help="Also write a torch.profiler table of "
                                               "each method's step, per mode, into this folder."),
    method: list[str] = typer.Option([], "--method", help="Another method whose step is measured against the "
                                     "backbone's, e.g. ran, gacnn (repeatable)."),
    column: list[str] = typer.Option([], "--column", help="A test set to score, as a suite column: "
                                     "'{name: eyes 30%, options: {kind: eyes, area: 0.3, probability: 1}}' "
                                     "(repeatable; default the run's first test split)."),
    cost_batches: int = typer.Option(4, help="Batches per stage for the CPU cost per face (one thread)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Training-step, input-pipeline, loop, scoring and attention-map throughput, OADN against its backbone, and
    each stage's CPU cost per face."""
    load_plugins(plugin)
    from oadn.engine.bench import results_tables, run_bench
    from oadn.engine.bench_costs import Column

    run_config = _with_cache_dir(build_config(config, overrides), cache_dir)
    try:
        columns = [Column.parse(_yaml_mapping(text, "--column")) for text in column]
    except ValueError as error:  # a column that is not one: the option is wrong
        raise ConfigError(str(error)) from error
    results = run_bench(run_config, steps=steps, warmup=warmup, repeats=repeats,
                        loop_steps=loop_steps, compile_modes=compile_modes if compiled else (),
                        profile_dir=profile_dir, methods=method, columns=columns, cost_batches=cost_batches)
    for table in results_tables(results):
        console.print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2) + "\n")
