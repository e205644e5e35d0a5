"""Planning a suite: where each data set is, whether its landmark cache exists, and each run's status.

Nothing is trained here. An experiment whose data is missing is skipped with the files expected; a missing
landmark cache is scheduled for preparation (or, when no landmark backend can run here, the experiment is
skipped with the exact ``prepare`` command). Each (experiment, method, seed) is new, reuse or resume by the
run-identity rule of :mod:`oadn.experiments.identity`.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from oadn.common.commands import command_line
from oadn.config import RunConfig
from oadn.data.fingerprint import copy_fingerprints
from oadn.data.landmarks import LandmarkBackendError, make_backend
from oadn.data.pack_archive import is_pack
from oadn.data.packed import open_pack
from oadn.data.prepared.source import find_cache, prepare_command_line
from oadn.data.registry import DatasetAdapter, get_dataset
from oadn.engine.evaluate import column_options
from oadn.engine.run_dir import data_record
from oadn.experiments.identity import config_hash, find_run, folder_name, new_run_dir, run_status
from oadn.experiments.suites import Column, Experiment, Suite, check_names, init_of, method_config
from oadn.models.face_weights import weights_problem
from oadn.models.pretrained import is_local_file

#: landmark backends tried, best first, when neither --landmarks nor an existing cache decides
BACKEND_PREFERENCE = ("fan", "dlib")


@dataclass
class DataLocations:
    """``--data-root DIR`` (a folder per data set) and ``--root NAME=PATH`` (one data set), plus the cache."""

    data_root: Path | None = None
    roots: dict[str, Path] = field(default_factory=dict)
    cache_dir: Path | None = None
    landmarks: str | None = None

    def root_for(self, key: str) -> Path | None:
        if key in self.roots:
            return self.roots[key]
        if self.data_root is None:
            return None
        return self.data_root if key == "." else self.data_root / key


@dataclass
class DataCheck:
    """A data set at a root: usable (sizes per split, landmark spec) or not (reason)."""

    adapter: DatasetAdapter
    root: Path | None
    sizes: dict[str, int] = field(default_factory=dict)
    landmarks: str | None = None
    prepare: str | None = None  # backend to prepare a missing cache with
    reason: str = ""
    #: per split, the fingerprint of the copy's image ids, labels and pixels (None: generated data)
    fingerprints: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.reason

    def split_options(self, locations: DataLocations) -> dict[str, Any]:
        """Where a run reads the landmark cache of data on disk (a wrapper of such data, e.g. ``occluded``, too)."""
        if not self.adapter.needs_root:
            return {}
        options: dict[str, Any] = {"landmarks": self.landmarks}
        if locations.cache_dir is not None:
            options["cache_dir"] = str(locations.cache_dir)
        return options


@functools.cache
def backend_problem(spec: str) -> str:
    """Why landmark backend ``spec`` cannot run here ("" when it can); asked once per process (building a backend
    can mean loading, or downloading, its weights)."""
    try:
        make_backend(spec)
    except (LandmarkBackendError, ImportError, OSError) as error:
        return str(error)
    return ""


def check_data(adapter: DatasetAdapter, root_key: str | None, locations: DataLocations) -> DataCheck:
    """Sizes per split, or the reason the data set cannot be used; the landmark cache it reads (or will)."""
    if not adapter.needs_root:
        sizes = {s: len(adapter.open_split(s, root=None, image_size=32)) for s in adapter.splits}
        return DataCheck(adapter, None, sizes)
    key = root_key or adapter.cache_name
    root = locations.root_for(key)
    if root is None:
        return DataCheck(adapter, None, reason=f"no copy of {adapter.name}: pass --data-root DIR (expects DIR/{key}) "
                                               f"or {command_line('--root', f'{key}=PATH')}")
    adapter = adapter.at_root(root)
    pack = None
    try:
        if is_pack(root):  # a pack stands in for the copy and its cache: its own label files give the index
            pack = open_pack(adapter, root, cache_dir=locations.cache_dir, landmarks=locations.landmarks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # list mismatches are reported by `datasets check`
            index = adapter.index(pack.root if pack else root)
    except (FileNotFoundError, ValueError) as error:
        return DataCheck(adapter, root, reason=f"data missing or unusable: {error}")
    sizes = {split: adapter.split_size(split, count) for split, count in index["split"].value_counts().items()}
    check = DataCheck(adapter, root, sizes, fingerprints=copy_fingerprints(index, root, locations.cache_dir, pack))
    if pack is not None:  # its landmarks are the ones every run reads: nothing to prepare
        check.landmarks = pack.meta["source"]["landmarks"]
        return check
    try:
        cache = find_cache(adapter.cache_name, root, landmarks=locations.landmarks, cache_dir=locations.cache_dir)
        check.landmarks = cache.read_meta()["landmarks"]
        return check
    except ValueError as error:  # several caches and no --landmarks to choose
        check.reason = f"{error} (pass --landmarks)"
        return check
    except FileNotFoundError:
        pass
    candidates = [locations.landmarks] if locations.landmarks else list(BACKEND_PREFERENCE)
    usable = next((spec for spec in candidates if not backend_problem(spec)), None)  # the first that runs
    if usable:
        check.landmarks = check.prepare = usable
    else:
        why = "; ".join(f"{spec}: {backend_problem(spec)}" for spec in candidates)
        check.reason = (
            f"no landmark cache for {adapter.cache_name} at {root} and no backend to make one ({why}); run: "
            f"{prepare_command_line(adapter.cache_name, root, landmarks=candidates[0], cache_dir=locations.cache_dir)}"
        )
    return check


def missing_weights(config: RunConfig) -> str:
    """Why the row cannot start ("" when it can): its initialisation is a weights file that is not there."""
    pretrained = config.model.pretrained
    if pretrained and is_local_file(pretrained):
        if not Path(pretrained).expanduser().is_file():
            return f"initial weights {pretrained} not found (a state dict of the backbone; see the suite's notes)"
    return weights_problem(config.model.backbone, pretrained)


@dataclass
class PlannedRun:
    experiment: Experiment
    method: str
    seed: int
    config: RunConfig | None
    run_dir: Path | None
    status: str  # new | reuse | resume | skip
    reason: str = ""
    images_per_epoch: int | None = None
    total_images: int | None = None

    @property
    def init(self) -> str:
        return init_of(self.config) if self.config is not None else ""


@dataclass
class ColumnPlan:
    column: Column
    dataset: str
    data: DataCheck | None  # None: one of the run's own test splits


@dataclass
class ExperimentPlan:
    experiment: Experiment
    data: DataCheck
    runs: list[PlannedRun]
    columns: list[ColumnPlan]


def image_counts(config: RunConfig, sizes: dict[str, int], column_sizes: Iterable[int]) -> tuple[int, int]:
    """Training images per epoch, and every image one run processes (training, validation, each test column)."""
    data = config.data
    train = sizes.get(data.train_split, 0)
    if data.val_split:
        val = sizes.get(data.val_split, 0)
    else:
        val = math.ceil(data.val_fraction * train) if data.val_fraction > 0 else 0
        train -= val
    return train, config.train.epochs * (train + val) + sum(column_sizes)


def _column_plan(column: Column, experiment: Experiment, run_data: DataCheck, options: dict[str, Any],
                 locations: DataLocations) -> ColumnPlan:
    if column.dataset is None:
        return ColumnPlan(column, experiment.config.get("data", {}).get("name", "synthetic"), None)
    try:
        adapter = get_dataset(column.dataset, **column_options(column.dataset, options, column.options))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"column {column.name!r} of experiment {experiment.id!r}: {error}") from error
    same_family = adapter.cache_name == run_data.adapter.cache_name
    key = column.root or (experiment.root if same_family else None)
    check = check_data(adapter, key, locations)
    if check.ok and run_data.landmarks and check.landmarks != run_data.landmarks and check.prepare:
        check.landmarks = check.prepare = run_data.landmarks  # score with the landmarks the run was trained on
    return ColumnPlan(column, column.dataset, check)


def plan_suite(suite: Suite, runs_root: Path, locations: DataLocations,
               overrides: Iterable[str] = ()) -> list[ExperimentPlan]:
    """Every experiment's data check, runs and columns, in the suite's order."""
    check_names(suite)
    overrides = list(overrides)
    plans = []
    for experiment in suite.experiments:
        probe = method_config(suite, experiment, next(iter(experiment.methods)), suite.seeds[0], overrides)
        try:
            adapter = get_dataset(probe.data.name, **probe.data.options)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{suite.path or suite.name}: experiment {experiment.id!r}: data set {probe.data.name!r} "
                             f"with options {probe.data.options}: {error}") from error
        data = check_data(adapter, experiment.root, locations)
        columns = [_column_plan(c, experiment, data, probe.data.options, locations) for c in experiment.columns]
        column_sizes = [
            (data.sizes.get(c.column.split, 0) if c.data is None else c.data.sizes.get(c.column.split, 0))
            for c in columns if c.data is None or c.data.ok
        ]
        runs = []
        for method in experiment.methods:
            for seed in suite.seeds_of(method):
                if not data.ok:
                    runs.append(PlannedRun(experiment, method, seed, None, None, "skip", data.reason))
                    continue
                location = {"data": {"split_options": data.split_options(locations)}}
                if data.root is not None:
                    location["data"]["root"] = str(data.root)
                config = method_config(suite, experiment, method, seed, overrides, location=location)
                missing = missing_weights(config)
                if missing:
                    runs.append(PlannedRun(experiment, method, seed, config, None, "skip", missing))
                    continue
                record = data_record(config, data.fingerprints)
                found = find_run(runs_root, config, record)
                folder = Path(runs_root) / folder_name(experiment.id) / folder_name(method)
                run_dir = found or new_run_dir(folder / f"seed{seed}-{config_hash(config)}", record)
                per_epoch, total = image_counts(config, data.sizes, column_sizes)
                runs.append(PlannedRun(experiment, method, seed, config, run_dir, run_status(found), "",
                                       per_epoch, total))
        plans.append(ExperimentPlan(experiment, data, runs, columns))
    return plans


def format_plan(plans: list[ExperimentPlan]) -> str:
    """The dry-run listing: one line per (experiment, method, seed), then each skipped column."""
    lines = []
    totals = {"new": 0, "reuse": 0, "resume": 0, "skip": 0}
    images = 0
    for plan in plans:
        exp = plan.experiment
        lines.append(f"{exp.id} ({exp.title}{', ' + exp.table if exp.table else ''}): "
                     f"{plan.data.adapter.name}{' at ' + str(plan.data.root) if plan.data.root else ''}")
        if plan.data.ok and plan.data.prepare:
            lines.append(f"  prepare landmark cache first ({plan.data.prepare})")
        for run in plan.runs:
            totals[run.status] += 1
            if run.status == "skip":
                lines.append(f"  {run.method:<22} seed {run.seed}  skip: {run.reason}")
                continue
            todo = run.total_images if run.status != "reuse" else 0
            images += todo or 0
            lines.append(f"  {run.method:<22} seed {run.seed}  {run.status:<6} init {run.init:<9} "
                         f"{run.images_per_epoch} img/epoch, {run.total_images} img total  {run.run_dir}")
        for column in plan.columns:
            if column.data is not None and not column.data.ok and plan.data.ok:
                lines.append(f"  column {column.column.name!r} skipped: {column.data.reason}")
            elif column.data is not None and column.data.prepare and plan.data.ok:
                lines.append(f"  column {column.column.name!r}: prepare landmark cache first ({column.data.prepare})")
    lines.append(f"plan: {totals['new']} new, {totals['reuse']} reuse, {totals['resume']} resume, "
                 f"{totals['skip']} skip; about {images} images to process")
    return "\n".join(lines)
