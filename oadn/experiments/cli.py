"""The ``run`` and ``ablate`` commands: the options suites and ablations share (data roots, cache, landmarks,
executor), gathered into one :class:`~oadn.experiments.running.RunRequest`, and the listing of built-in suites
and ablations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from oadn.common.console import console, guarded, log, show_progress
from oadn.common.plugins import PLUGIN_HELP, load_plugins
from oadn.config import ConfigError, parse_options

if TYPE_CHECKING:  # the commands import the experiment machinery when they run: --help stays quick
    from oadn.experiments.planning import DataLocations
    from oadn.experiments.running import RunRequest

SET_HELP = "Override a configuration value of every run, e.g. --set train.lr=0.01 (repeatable)."


def locations(data_root: Optional[Path], root: list[str], cache_dir: Optional[Path],
              landmarks: Optional[str]) -> DataLocations:
    from oadn.experiments.planning import DataLocations

    roots = {}
    for text in root:
        key, sep, value = text.partition("=")
        if not sep or not key or not value:
            raise typer.BadParameter(f"expected NAME=PATH, got {text!r}", param_hint="--root")
        roots[key] = Path(value)
    return DataLocations(data_root, roots, cache_dir, landmarks)


def list_builtin() -> None:
    from oadn.experiments.ablations import ablations_dir
    from oadn.experiments.suites import describe_builtin, suites_dir

    for title, folder in (("suites (run --suite NAME)", suites_dir()),
                          ("ablations (ablate --sweep NAME)", ablations_dir())):
        console.print(f"[bold]{title}[/]")
        for name, description in describe_builtin(folder):
            log(f"  {name:<18} {description}")


def _request(runs_root: Path, where: DataLocations, overrides: list[str], executor: str, options: list[str],
             dry_run: bool, progress: bool, plugins: list[str]) -> RunRequest:
    from oadn.experiments.running import RunRequest

    return RunRequest(runs_root, where, list(overrides), executor,
                      parse_options(options, "--executor-option", "partition=gpu"), dry_run, progress, log, plugins)


DATA_ROOT = typer.Option(None, "--data-root", help="Folder holding one folder per data set, named as the data set "
                         "(or as the experiment's root key), e.g. DIR/ferplus.")
ROOTS = typer.Option([], "--root", help="NAME=PATH: where one data set is (repeatable; wins over --data-root).")
CACHE = typer.Option(None, "--cache-dir", help="Prepared landmark caches (default $OADN_CACHE or ~/.cache/oadn-bench).")
LANDMARKS = typer.Option(None, "--landmarks", help="Landmark backend of the caches to read or prepare "
                         "(fan | dlib | ...); default: the existing cache, else the best backend available.")
EXECUTOR = typer.Option("local", "--executor", help="Where runs train: local (here, in turn) "
                        "or another registered one.")
EXECUTOR_OPTIONS = typer.Option([], "--executor-option", help="KEY=VALUE passed to the executor (repeatable).")


@guarded
def run_command(
    suite: Optional[str] = typer.Option(None, "--suite", help="Built-in suite name (see --list) or a suite YAML file."),
    list_: bool = typer.Option(False, "--list", help="List the built-in suites and ablations, then stop."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every run's status and image counts; train nothing."),
    data_root: Optional[Path] = DATA_ROOT,
    root: list[str] = ROOTS,
    cache_dir: Optional[Path] = CACHE,
    landmarks: Optional[str] = LANDMARKS,
    runs_root: Path = typer.Option(Path("runs"), help="Where run directories go."),
    report_dir: Optional[Path] = typer.Option(None, help="Where the report goes (default reports/<suite>)."),
    overrides: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="Number of seeds (0..N-1; default: the "
                                        "suite's)."),
    method: list[str] = typer.Option([], "--method", help="Run and report only this method (row) of the suite "
                                     "(repeatable; default: every one)."),
    executor: str = EXECUTOR,
    executor_option: list[str] = EXECUTOR_OPTIONS,
    progress: bool = typer.Option(True, callback=show_progress, help="Show progress bars."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
    allow_plugins: bool = typer.Option(False, "--allow-plugins", help="Load the plugins the suite file lists "
                                       "(its plugins:). Importing a plugin runs its code: only for a suite you "
                                       "trust. Without it such a suite is refused, unless --plugin names the same."),
) -> None:
    """Run a benchmark suite: train what is missing (finished runs are reused, unfinished ones resumed), score
    every test-set column, write manifest.csv and the report."""
    from oadn.experiments.running import run_suite
    from oadn.experiments.suites import consented_plugins, load_suite, select_methods

    if list_:
        list_builtin()
        return
    if suite is None:
        raise ConfigError("pass --suite NAME (see --list)")
    loaded = load_plugins(plugin)  # before the suite: a plugin may register what the suite names
    spec = load_suite(suite)
    loaded += load_plugins(consented_plugins(spec, loaded, allow_plugins),
                           relative_to=spec.path.parent if spec.path else None)
    loaded = list(dict.fromkeys(loaded))
    if seeds is not None:
        spec.seeds = list(range(seeds))
    if method:
        select_methods(spec, method)
    request = _request(runs_root, locations(data_root, root, cache_dir, landmarks), overrides, executor,
                       executor_option, dry_run, progress, loaded)
    run_suite(spec, report_dir or Path("reports") / spec.name, request)


@guarded
def ablate_command(
    param: Optional[str] = typer.Option(None, "--param", help="T, K, lambda, sigma, backbone "
                                        "or any dotted config key."),
    values: Optional[str] = typer.Option(None, "--values", help="Comma-separated values "
                                         "(default: the ablation file's)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Data set to ablate on "
                                          "(default: the ablation file's; the paper's Fig. 7 uses rafdb)."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="Number of seeds "
                                        "(0..N-1; default: the ablation file's)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="A built-in ablation name (see run --list) "
                                        "or an ablation YAML file."),
    at_test: bool = typer.Option(False, "--at-test", help="T and sigma: train once, "
                                 "score each value without retraining."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; train nothing."),
    data_root: Optional[Path] = DATA_ROOT,
    root: list[str] = ROOTS,
    cache_dir: Optional[Path] = CACHE,
    landmarks: Optional[str] = LANDMARKS,
    runs_root: Path = typer.Option(Path("runs"), help="Where run directories go."),
    report_dir: Optional[Path] = typer.Option(None, help="Where the ablation's report goes "
                                              "(default reports/ablate-<name>[-at-test])."),
    overrides: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    executor: str = EXECUTOR,
    executor_option: list[str] = EXECUTOR_OPTIONS,
    progress: bool = typer.Option(True, callback=show_progress, help="Show progress bars."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Ablate one hyper-parameter (the paper's Fig. 7): every value is an ordinary run (reused when finished), or
    with --at-test one trained model scored at every value; writes ablation.csv/json and the plot."""
    loaded = load_plugins(plugin)
    from oadn.experiments.ablations import parse_values, resolve_ablation, run_ablation

    spec = resolve_ablation(sweep, param, dataset)
    spec.values = parse_values(values) or spec.values
    if seeds is not None:
        spec.seeds = list(range(seeds))
    target = report_dir or Path("reports") / f"ablate-{spec.name}{'-at-test' if at_test else ''}"
    request = _request(runs_root, locations(data_root, root, cache_dir, landmarks), overrides, executor,
                       executor_option, dry_run, progress, loaded)
    run_ablation(spec, target, request, at_test=at_test)


@guarded
def migrate_command(
    runs_root: Path = typer.Option(Path("runs"), help="Where run directories are."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be renamed; rename nothing."),
) -> None:
    """Move finished runs to this version's run identity (once, after an upgrade): rename every run directory
    whose hash moved, so suites reuse it instead of training it again; says what it renamed and what it left."""
    from oadn.experiments.migrate import migrate_runs

    if not runs_root.is_dir():
        raise FileNotFoundError(f"no runs folder {runs_root} (pass --runs-root)")
    done = migrate_runs(runs_root, dry_run)
    for item in done:
        if item.outcome != "kept":
            log(item.line())
    counts = {outcome: sum(item.outcome == outcome for item in done) for outcome in ("renamed", "kept", "left")}
    verb = "would be renamed" if dry_run else "renamed"
    log(f"{len(done)} run(s) under {runs_root}: {counts['renamed']} {verb}, {counts['kept']} kept their identity, "
        f"{counts['left']} left as they were" + ("; run each suite again to write its manifest with the new "
                                                 "names (every finished run is reused)" if counts["renamed"] else ""))

