"""The ``run`` and ``ablate`` commands: options shared by suites and sweeps (data roots, cache, landmarks,
executor) and the listing of built-in suites and sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from oadn.config import parse_override

console = Console()
SET_HELP = "Override a configuration value of every run, e.g. --set train.lr=0.01 (repeatable)."


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=1)


def _log(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def locations(data_root: Optional[Path], root: list[str], cache_dir: Optional[Path], landmarks: Optional[str]):
    from oadn.planning import DataLocations

    roots = {}
    for text in root:
        key, sep, value = text.partition("=")
        if not sep or not key or not value:
            raise typer.BadParameter(f"expected NAME=PATH, got {text!r}", param_hint="--root")
        roots[key] = Path(value)
    return DataLocations(data_root, roots, cache_dir, landmarks)


def executor_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for text in pairs:
        options.update(parse_override(text))
    return options


def list_builtin() -> None:
    from oadn.ablation import sweeps_dir
    from oadn.suite import describe_builtin, suites_dir

    for title, folder in (("suites (run --suite NAME)", suites_dir()), ("sweeps (ablate --sweep NAME)", sweeps_dir())):
        console.print(f"[bold]{title}[/]")
        for name, description in describe_builtin(folder):
            _log(f"  {name:<18} {description}")


DATA_ROOT = typer.Option(None, "--data-root", help="Folder holding ferplus/, rafdb/, affectnet/, fedro/.")
ROOTS = typer.Option([], "--root", help="NAME=PATH: where one data set is (repeatable; wins over --data-root).")
CACHE = typer.Option(None, "--cache-dir", help="Prepared landmark caches (default $OADN_CACHE or ~/.cache/oadn-bench).")
LANDMARKS = typer.Option(None, "--landmarks", help="Landmark backend of the caches to read or prepare (fan | dlib | ...); "
                         "default: the existing cache, else the best backend available.")
EXECUTOR = typer.Option("local", "--executor", help="Where runs train: local (here, in turn) or another registered one.")
EXECUTOR_OPTIONS = typer.Option([], "--executor-option", help="KEY=VALUE passed to the executor (repeatable).")


def run_command(
    suite: Optional[str] = typer.Option(None, "--suite", help="Built-in suite name (see --list) or a suite YAML file."),
    list_: bool = typer.Option(False, "--list", help="List the built-in suites and sweeps, then stop."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every run's status and image counts; train nothing."),
    data_root: Optional[Path] = DATA_ROOT,
    root: list[str] = ROOTS,
    cache_dir: Optional[Path] = CACHE,
    landmarks: Optional[str] = LANDMARKS,
    runs_root: Path = typer.Option(Path("runs"), help="Where run directories go."),
    report_dir: Optional[Path] = typer.Option(None, help="Where the report goes (default reports/<suite>)."),
    overrides: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Number of seeds (0..N-1; default: the suite's)."),
    executor: str = EXECUTOR,
    executor_option: list[str] = EXECUTOR_OPTIONS,
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Run a benchmark suite: train what is missing (finished runs are reused, unfinished ones resumed), score
    every test-set column, write manifest.csv and the report."""
    from oadn.engine.train import TrainingDiverged
    from oadn.suite import load_suite
    from oadn.suite_run import run_suite

    if list_:
        list_builtin()
        return
    if suite is None:
        _fail("pass --suite NAME (see --list)")
    try:
        spec = load_suite(suite)
        if seeds is not None:
            spec.seeds = list(range(seeds))
        run_suite(spec, runs_root, report_dir or Path("reports") / spec.name,
                  locations(data_root, root, cache_dir, landmarks), overrides=overrides, executor=executor,
                  executor_options=executor_options(executor_option), dry_run=dry_run, progress=progress, log=_log)
    except (TrainingDiverged, FileNotFoundError, KeyError, ValueError, RuntimeError) as error:
        _fail(str(error))


def ablate_command(
    param: Optional[str] = typer.Option(None, "--param", help="T, K, lambda, sigma, backbone or any dotted config key."),
    values: Optional[str] = typer.Option(None, "--values", help="Comma-separated values (default: the sweep file's)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Data set to sweep on (default: the sweep file's; "
                                          "the paper's Fig. 7 uses rafdb)."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Number of seeds (0..N-1; default: the sweep file's)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="A built-in sweep name (see run --list) or a sweep YAML file."),
    at_test: bool = typer.Option(False, "--at-test", help="T and sigma: train once, score each value without retraining."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; train nothing."),
    data_root: Optional[Path] = DATA_ROOT,
    root: list[str] = ROOTS,
    cache_dir: Optional[Path] = CACHE,
    landmarks: Optional[str] = LANDMARKS,
    runs_root: Path = typer.Option(Path("runs"), help="Where run directories go."),
    report_dir: Optional[Path] = typer.Option(None, help="Where the sweep's report goes (default reports/ablate-<sweep>[-at-test])."),
    overrides: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    executor: str = EXECUTOR,
    executor_option: list[str] = EXECUTOR_OPTIONS,
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Sweep one hyper-parameter (the paper's Fig. 7): every value is an ordinary run (reused when finished), or
    with --at-test one trained model scored at every value; writes ablation.csv/json and the plot."""
    from oadn.ablation import parse_values, resolve_sweep, run_ablation
    from oadn.engine.train import TrainingDiverged

    try:
        spec = resolve_sweep(sweep, param, dataset)
        spec.values = parse_values(values) or spec.values
        if seeds is not None:
            spec.seeds = list(range(seeds))
        target = report_dir or Path("reports") / f"ablate-{spec.name}{'-at-test' if at_test else ''}"
        run_ablation(spec, runs_root, target, locations(data_root, root, cache_dir, landmarks), at_test=at_test,
                     overrides=overrides, executor=executor, executor_options=executor_options(executor_option),
                     dry_run=dry_run, progress=progress, log=_log)
    except (TrainingDiverged, FileNotFoundError, KeyError, ValueError, RuntimeError) as error:
        _fail(str(error))
