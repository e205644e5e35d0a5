"""Benchmark suites: YAML files of experiments, each a training protocol scored on several test-set columns.

A suite file (``benchmarks/suites/NAME.yaml``) holds::

    include: robustness                             # optional: start from another suite (a name or a file beside
                                                    # this one); every key here replaces its key, except base,
                                                    # which merges key by key (a key set to null is removed)
    name, description, notes: [..], seeds: [0, 1, 2]
    plugins: [my_package.fer, ./my_method.py]       # optional: modules that register methods or data sets;
                                                    # run only with --allow-plugins or the same --plugin
    endpoints:                                      # optional: pre-registered contrasts the report computes
      - {name: eyes, method: OADN, branch: attention, column: {kind: eyes, scores: oracle},
         against: {scores: backend}, bar: 1.5, primary: true}   # columns by their fields (or by name)
    base: {data: .., model: .., train: ..}          # shared configuration
    methods: {DISPLAY NAME: {config overrides}}     # rows; ``model.pretrained`` states the initialisation;
                                                    # ``seeds: [0, 1]`` in a row: only those of the suite's seeds
    experiments:                                    # optional; without it the file is one experiment
      - id: ferplus-ran
        title: "FERPlus, RAN protocol"
        table: "Table 5"
        root: ferplus                               # key into --data-root DIR/<key> and --root KEY=PATH
        config: {data: {name: ferplus, options: {protocol: ran}}}
        methods: [OADN, Baseline]                   # optional subset of the suite's methods
        columns:                                    # default: one per data.test_splits entry
          - {name: FERPlus test, split: test}
          - {name: Occlusion-FERPlus, dataset: occlusion-ferplus, published_key: occlusion-ferplus}
          - grid: {dataset: occluded, options: {base: ferplus, probability: 1.0}, kind: [eyes, mouth],
                   area: [0.3], scores: [backend, oracle, random-drop]}   # 6 columns, "eyes 30%, oracle", ...

A column without ``dataset`` is one of the run's own test splits; one with ``dataset`` is scored by ``evaluate``
with the run's protocol options unless it gives ``options``. A ``grid`` expands occlusion kind x area x score mode
into one column each, named from its fields ("eyes 30%, oracle"); a column's fields (``kind``, ``area``, ``scores``:
its occlusion options) go into the manifest, and endpoints select columns by them. Built-in suites ship with the
package (``oadn._suites``, mapped onto ``benchmarks/suites``; ablations likewise onto ``ablations/``) so ``--suite
NAME`` works from any install.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import import_module
from itertools import product
from pathlib import Path
from typing import Any, Iterable

from oadn.common.names import name_problem
from oadn.common.plugins import plugin_name
from oadn.config import ConfigError, RunConfig, build_config, load_yaml, merge
from oadn.report.endpoints import Endpoint
from oadn.report.manifest import FIELDS, column_fields

SUITE_KEYS = {"include", "name", "description", "notes", "seeds", "base", "methods", "experiments", "table",
              "plugins", "endpoints"}
EXPERIMENT_KEYS = {"id", "title", "table", "root", "config", "methods", "columns"}
COLUMN_KEYS = {"name", "dataset", "split", "options", "root", "published_key", "table"}
#: what a grid takes: a column's keys but its name, and a list (or one value) per field
GRID_KEYS = (COLUMN_KEYS - {"name"}) | set(FIELDS)


def builtin_dir(package: str, source_folder: str) -> Path:
    """The folder of built-in YAML files: the installed package ``package`` (wheel or editable install), else
    the project's ``source_folder`` next to ``oadn/`` (running from a checkout)."""
    try:
        return Path(next(iter(import_module(package).__path__)))  # a namespace package: YAML files only
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / source_folder


def suites_dir() -> Path:
    return builtin_dir("oadn._suites", "benchmarks/suites")


def builtin_suites() -> list[str]:
    return sorted(p.stem for p in suites_dir().glob("*.yaml"))


def describe_builtin(folder: Path) -> list[tuple[str, str]]:
    """(name, one-line description) of every YAML file in ``folder``."""
    out = []
    for path in sorted(folder.glob("*.yaml")):
        text = str(load_yaml(path).get("description", "")).strip()
        out.append((path.stem, text.splitlines()[0] if text else ""))
    return out


@dataclass
class Column:
    """One test-set column of an experiment's table."""

    name: str
    split: str = "test"
    dataset: str | None = None  # None: the run's own data set (a split it tests on)
    options: dict[str, Any] | None = None  # None: inherit the run's protocol options
    root: str | None = None  # root key; None: the data set's family (its cache name)
    published_key: str = ""
    table: str = ""

    @property
    def fields(self) -> dict[str, str]:
        """The column's occlusion (kind, area, scores) as the manifest records it; "" where its options give none."""
        return column_fields(self.options or {})


@dataclass
class Experiment:
    """A training protocol, the methods trained under it, and the columns they are scored on."""

    id: str
    title: str
    table: str
    root: str | None
    config: dict[str, Any]
    methods: dict[str, dict[str, Any]]
    columns: list[Column]


@dataclass
class Suite:
    name: str
    description: str
    seeds: list[int]
    experiments: list[Experiment]
    notes: list[str] = field(default_factory=list)
    path: Path | None = None
    #: plugin modules or .py files (relative to the suite file) that register the suite's methods or data sets
    plugins: list[str] = field(default_factory=list)
    #: pre-registered contrasts between two columns of the same runs, computed by the report
    endpoints: list[Endpoint] = field(default_factory=list)
    #: methods that train only some of ``seeds`` (a control needs fewer than the arm under test)
    method_seeds: dict[str, list[int]] = field(default_factory=dict)

    def seeds_of(self, method: str) -> list[int]:
        """The seeds ``method`` trains: its own, within the suite's, else the suite's."""
        own = self.method_seeds.get(method)
        return list(self.seeds) if own is None else [s for s in self.seeds if s in own]


def check_keys(values: dict[str, Any], allowed: set[str], where: str) -> None:
    """A ValueError naming ``where``, the unknown keys of ``values`` and every allowed one."""
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}")


#: what each key of a suite, experiment, column and ablation file holds: (test, what is expected)
_STRING = (lambda v: isinstance(v, str), "a string")
_MAPPING = (lambda v: v is None or isinstance(v, dict), "a mapping")
_SEEDS = (lambda v: isinstance(v, list) and len(v) > 0 and all(type(s) is int and s >= 0 for s in v)
          and len(set(v)) == len(v), "a non-empty list of integers >= 0 without repeats")
FILE_TYPES = {
    "name": _STRING, "description": _STRING, "title": _STRING, "table": _STRING, "root": _STRING, "id": _STRING,
    "split": _STRING, "dataset": _STRING, "published_key": _STRING, "param": _STRING,
    "notes": (lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v), "a list of strings"),
    "seeds": _SEEDS, "base": _MAPPING, "config": _MAPPING, "options": _MAPPING,
    "methods": (lambda v: v is None or isinstance(v, (dict, list)), "a mapping (suite) or a list of names"),
    "experiments": (lambda v: v is None or isinstance(v, list), "a list of experiments"),
    "columns": (lambda v: v is None or isinstance(v, list), "a list of columns"),
    "values": (lambda v: isinstance(v, list) and len(v) > 0 and all(not isinstance(x, (dict, list)) for x in v),
               "a non-empty list of values"),
    "paper_value": (lambda v: v is None or not isinstance(v, (dict, list)), "one value"),
}


def check_types(values: dict[str, Any], where: str) -> None:
    """A ConfigError listing every key of ``values`` whose value is not of the kind :data:`FILE_TYPES` says."""
    problems = [f"{key} = {values[key]!r}: expected {FILE_TYPES[key][1]}" for key in values
                if key in FILE_TYPES and not FILE_TYPES[key][0](values[key])]
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def parse_columns(raw: list[Any] | None, config: dict[str, Any], table: str, where: str) -> list[Column]:
    """An experiment's test-set columns from its file (``raw``), or one per ``data.test_splits`` entry of its
    configuration when the file gives none."""
    if raw is None:
        splits = config.get("data", {}).get("test_splits", ["test"])
        return [Column(name=split, split=split, table=table) for split in splits]
    columns = []
    for number, item in enumerate(raw):
        at = f"{where}.columns[{number}]"
        if isinstance(item, dict) and set(item) == {"grid"}:
            columns += [Column(**{"table": table, **column}) for column in expand_grid(item["grid"], f"{at}.grid")]
            continue
        if not isinstance(item, dict) or "name" not in item:
            raise ValueError(f"{at}: expected a mapping with at least 'name' (or one 'grid'), got {item!r}")
        check_keys(item, COLUMN_KEYS, at)
        check_types(item, at)
        columns.append(Column(**{"table": table, **item}))
    own = config.get("data", {}).get("test_splits", ["test"])
    for column in columns:
        if column.dataset is None and column.split not in own:
            raise ValueError(f"{where}: column {column.name!r} names split {column.split!r}, which is not one of the "
                             f"run's data.test_splits ({', '.join(own)}); give it a 'dataset' or add the split")
    return columns


def grid_name(kind: Any, area: Any, scores: Any) -> str:
    """A grid column's name from its fields: "eyes 30%, oracle", "swap-mouth, backend" (no area given)."""
    size = "" if area in (None, "any") else f" {100 * float(area):g}%"
    return f"{kind}{size}" + ("" if scores is None else f", {scores}")


def expand_grid(grid: Any, where: str) -> list[dict[str, Any]]:
    """The columns of a grid: one per kind x area x scores (each a list or one value; an absent one is not set),
    in that order, the other keys shared, each named by :func:`grid_name`."""
    if not isinstance(grid, dict):
        raise ConfigError(f"{where}: expected a mapping of column keys and fields, got {grid!r}")
    check_keys(grid, GRID_KEYS, where)
    check_types({k: v for k, v in grid.items() if k not in FIELDS}, where)
    axes = {key: grid[key] if isinstance(grid[key], list) else [grid[key]] for key in FIELDS if key in grid}
    empty = [key for key, values in axes.items() if not values]
    if empty or "kind" not in axes:
        raise ConfigError(f"{where}: a grid needs kind and a value for each field it names; empty: {empty}")
    shared = {key: value for key, value in grid.items() if key not in FIELDS}
    columns = []
    for kind, area, scores in product(axes["kind"], axes.get("area", [None]), axes.get("scores", [None])):
        fields = {key: value for key, value in (("kind", kind), ("area", area), ("scores", scores))
                  if key in axes}
        columns.append({**shared, "name": grid_name(kind, area, scores),
                        "options": {**(shared.get("options") or {}), **fields}})
    return columns


def resolve_suite_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = suites_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise FileNotFoundError(
            f"no suite {name_or_path!r}: not a file, and not one of the built-in suites ({', '.join(builtin_suites())})"
        )
    return candidate


def suite_values(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A suite file's mapping with what it includes resolved: the included suite's keys, each replaced by this
    file's, except ``base``, merged key by key (a key set to None is removed). An include is a built-in suite's
    name or a file (relative to this one); a cycle is a ConfigError naming the files."""
    values = load_yaml(path)
    check_keys(values, SUITE_KEYS, str(path))
    included = values.pop("include", None)
    if included is None:
        return values
    if not isinstance(included, str):
        raise ConfigError(f"{path}: include = {included!r}: expected one suite name or file")
    beside = path.parent / included
    target = (beside if beside.suffix in (".yaml", ".yml") and beside.is_file()
              else resolve_suite_path(included)).resolve()
    if target in seen or target == path.resolve():
        chain = " -> ".join(str(p) for p in (*seen, path.resolve(), target))
        raise ConfigError(f"{path}: include = {included!r} includes itself: {chain}")
    inner = _plugins_anchored(suite_values(target, (*seen, path.resolve())), target.parent)
    inner.pop("name", None)  # a suite's name (and its report folder) is its own, never the included one's
    # an including suite leaves out a key of the included one's base by setting it to None
    base = merge(inner.get("base") or {}, values.pop("base", None) or {}, none_removes=True)
    return {**inner, **values, "base": base}


def _plugins_anchored(values: dict[str, Any], folder: Path) -> dict[str, Any]:
    """An included suite's values with its relative ``.py`` plugins made absolute against its own folder: the
    including file lies elsewhere, and its folder is the one a relative plugin would otherwise be read against."""
    plugins = values.get("plugins")
    if isinstance(plugins, list):
        values["plugins"] = [plugin_name(spec, folder) if isinstance(spec, str) and spec.endswith(".py") else spec
                             for spec in plugins]
    return values


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name or a suite file by path; every key is checked, errors name the file."""
    path = resolve_suite_path(name_or_path)
    values = suite_values(path)
    where = str(path)
    check_types(values, where)
    methods = values.get("methods") or {}
    if not methods or not isinstance(methods, dict):
        raise ConfigError(f"{where}: a suite needs a non-empty 'methods' mapping")
    bad = [f"methods.{m} = {v!r}" for m, v in methods.items() if not (v is None or isinstance(v, dict))]
    if bad:
        raise ConfigError(f"{where}: {'; '.join(bad)}: expected a mapping of configuration overrides (or nothing)")
    seeds = list(values.get("seeds", [0]))
    methods, method_seeds = _own_seeds(methods, seeds, where)
    base = values.get("base") or {}
    name = values.get("name", path.stem)
    raw_experiments = values.get("experiments") or [{"id": name}]
    experiments = []
    for number, raw in enumerate(raw_experiments):
        at = f"{where}: experiments[{number}]"
        if not isinstance(raw, dict) or "id" not in raw:
            raise ValueError(f"{at}: expected a mapping with an 'id'")
        check_keys(raw, EXPERIMENT_KEYS, at)
        check_types(raw, at)
        chosen = raw.get("methods") or list(methods)
        missing = [m for m in chosen if m not in methods]
        if missing:
            raise ValueError(f"{at}: method(s) {', '.join(missing)} are not in the suite's methods "
                             f"({', '.join(methods)})")
        config = merge(base, raw.get("config") or {})
        table = raw.get("table", values.get("table", ""))
        experiments.append(Experiment(
            id=str(raw["id"]), title=raw.get("title", str(raw["id"])), table=table, root=raw.get("root"),
            config=config, methods={m: methods[m] or {} for m in chosen},
            columns=parse_columns(raw.get("columns"), config, table, at),
        ))
    ids = [e.id for e in experiments]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: experiment ids must be unique, got {ids}")
    return Suite(name=name, description=values.get("description", ""), seeds=seeds, method_seeds=method_seeds,
                 experiments=experiments, notes=list(values.get("notes", [])), path=path,
                 plugins=_plugin_list(values.get("plugins"), where),
                 endpoints=_endpoints(values.get("endpoints"), experiments, where))


def _own_seeds(methods: dict[str, Any], seeds: list[int],
               where: str) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The methods without their ``seeds`` key, and each such key: a non-empty list of the suite's seeds."""
    overrides, own = {}, {}
    for method, spec in methods.items():
        spec = dict(spec or {})
        if "seeds" in spec:
            chosen = spec.pop("seeds")
            if not (FILE_TYPES["seeds"][0](chosen) and set(chosen) <= set(seeds)):
                raise ConfigError(f"{where}: methods.{method}.seeds = {chosen!r}: expected a non-empty list of the "
                                  f"suite's seeds ({seeds})")
            own[method] = list(chosen)
        overrides[method] = spec
    return overrides, own


def _endpoints(raw: Any, experiments: list[Experiment], where: str) -> list[Endpoint]:
    """The suite's endpoints, each naming a method and two columns the suite has."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: endpoints: expected a list of endpoints, got {raw!r}")
    endpoints = []
    for number, item in enumerate(raw):
        at = f"{where}: endpoints[{number}]"
        try:
            endpoint = Endpoint.parse(item, at)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        chosen = [e for e in experiments if endpoint.experiment in (None, e.id)]
        if not chosen:
            raise ConfigError(f"{at}: experiment {endpoint.experiment!r} is not one of the suite's "
                              f"({', '.join(e.id for e in experiments)})")
        endpoint = _by_fields(endpoint, chosen, at)
        methods = {m for e in chosen for m in e.methods}
        columns = {c.name for e in chosen for c in e.columns}
        problems = ([f"method {endpoint.method!r} is not one of {sorted(methods)}"] if endpoint.method not in methods
                    else []) + [f"column {name!r} is not one of {sorted(columns)}"
                                for name in (endpoint.column, endpoint.against) if name not in columns]
        if problems:
            raise ConfigError(f"{at}: " + "; ".join(problems))
        endpoints.append(endpoint)
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: endpoint names must be unique, got {names}")
    return endpoints


def _by_fields(endpoint: Endpoint, experiments: list[Experiment], where: str) -> Endpoint:
    """``endpoint`` with a column given by its fields (``{kind: eyes, scores: oracle}``) resolved to that column's
    name, and ``against`` given by fields taken as the ones that differ from ``column``'s (``{scores: backend}``)."""
    def select(wanted: dict[str, Any], key: str) -> str:
        if set(wanted) - set(FIELDS):
            raise ConfigError(f"{where}: {key} = {wanted!r}: fields are {', '.join(FIELDS)}")
        text = {field: column_fields({field: value})[field] for field, value in wanted.items()}
        names = {c.name for e in experiments for c in e.columns if all(c.fields[f] == v for f, v in text.items())}
        if len(names) != 1:
            problem = "no column has them" if not names else f"several columns have them: {sorted(names)}"
            raise ConfigError(f"{where}: {key} = {wanted!r}: {problem}")
        return names.pop()

    if not isinstance(endpoint.column, dict) and not isinstance(endpoint.against, dict):
        return endpoint
    if isinstance(endpoint.column, dict):
        column, fields = select(endpoint.column, "column"), endpoint.column
    else:
        column = endpoint.column
        fields = next((c.fields for e in experiments for c in e.columns if c.name == column), {})
        fields = {k: v for k, v in fields.items() if v}
    against = endpoint.against
    if isinstance(against, dict):
        against = select({**fields, **against}, "against")
    return replace(endpoint, column=column, against=against)


def _plugin_list(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise ValueError(f"{where}: plugins: expected a list of module names or .py files, got {raw!r}")
    return list(raw)


def consented_plugins(suite: Suite, given: Iterable[str], allow: bool) -> list[str]:
    """The suite's ``plugins:`` entries to load: all of them with ``allow`` (``--allow-plugins``), else those the
    command line loaded itself (``given``: what ``--plugin`` loaded, see :func:`oadn.common.plugins.plugin_name`),
    which are loaded already. A suite file is shared like data and a plugin runs its code when imported, so any
    other entry is a ConfigError naming the file and the way to consent, before anything is imported."""
    folder = suite.path.parent if suite.path else None
    if allow:
        return list(suite.plugins)
    given = set(given)
    unapproved = [spec for spec in suite.plugins if plugin_name(spec, folder) not in given]
    if unapproved:
        names = ", ".join(plugin_name(spec, folder) for spec in unapproved)
        raise ConfigError(
            f"{suite.path or suite.name}: plugins: {', '.join(unapproved)}: the suite asks to run the code of "
            f"{names}, and a suite file runs no code unless you say so; if you trust it, pass --allow-plugins, "
            f"or name the same plugin with --plugin"
        )
    return []


def check_names(suite: Suite) -> None:
    """A ConfigError listing every suite name, experiment id, method and column name that cannot be a path
    component (each becomes a folder or file name under --runs-root and the report folder); run before any work."""
    where = suite.path or suite.name
    named = [("name", suite.name)]
    for number, experiment in enumerate(suite.experiments):
        named.append((f"experiments[{number}].id", experiment.id))
        named += [(f"experiments[{number}] method", method) for method in experiment.methods]
        named += [(f"experiments[{number}].columns[{k}].name", c.name) for k, c in enumerate(experiment.columns)]
    problems = [f"{key} {value!r}: {problem}" for key, value in dict.fromkeys(named)
                if (problem := name_problem(value))]
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def select_methods(suite: Suite, names: Iterable[str]) -> None:
    """Keep only the methods (rows) ``names`` in every experiment, e.g. to train a suite's rows a few at a time;
    a name no experiment has is a ConfigError listing the suite's methods."""
    wanted = list(dict.fromkeys(names))
    known = list(dict.fromkeys(method for experiment in suite.experiments for method in experiment.methods))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ConfigError(f"--method {', '.join(map(repr, unknown))}: not a method of suite {suite.name!r}; "
                          f"its methods: {', '.join(map(repr, known))}")
    for experiment in suite.experiments:
        experiment.methods = {name: spec for name, spec in experiment.methods.items() if name in wanted}


def method_config(
    suite: Suite,
    experiment: Experiment,
    method: str,
    seed: int,
    overrides: Iterable[str] = (),
    location: dict[str, Any] | None = None,
) -> RunConfig:
    """The resolved configuration of one row: base + experiment + method + seed + where the data is, then
    ``--set`` overrides."""
    values = merge(merge(experiment.config, experiment.methods[method]), {"train": {"seed": seed}})
    values = merge(values, location or {})
    prefix = suite.name if experiment.id == suite.name else f"{suite.name}/{experiment.id}"
    values["name"] = f"{prefix}/{method}/seed{seed}"
    return build_config(base=values, overrides=overrides)


def init_of(config: RunConfig) -> str:
    """How the row is initialised: ``scratch``, a timm pretrained tag (``imagenet``) or a weights file."""
    return config.model.pretrained or "scratch"
