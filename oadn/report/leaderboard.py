"""The robustness leaderboard's records: every run scored on a protocol under some roots, grouped into one record
per (method, pre-training, data set, protocol), each scored against its GAP baseline and kept as a JSON file
(RobustBench keeps its ``model_info`` the same way: results as data files, the page rendered from them).

Where runs are found: under each root, every run directory holding ``robustness/<protocol>/summary.json``
(``evaluate --protocol``), and every run a suite's ``manifest.csv`` under the root names (a reports root leads to
runs kept elsewhere). A run's method is the suite's row name where a manifest names it, else its configuration's
``name`` (``suite/experiment/METHOD/seedK``), else its registered method.

Which runs pool into one record: the same method name, the same configuration but the seed (every key that
decides what is trained or how it is scored; where data and caches are, and the name, left out), the same
training data (the run's ``data.json`` fingerprints: a run trained on another copy never lands in this row), and
the same test faces (the scored split's fingerprint) and protocol. The record's key holds short digests of
those, so two copies of a data set give two rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from oadn import __version__
from oadn.common.files import read_json
from oadn.config import LABEL, LOCATION, RunConfig, config_to_dict, keys_with_role
from oadn.engine.robustness import PROTOCOLS, load_correct
from oadn.engine.run_dir import load_config
from oadn.models.pretrained import pretraining_tag
from oadn.report.manifest import resolve_path
from oadn.report.robustness_score import GridScores, grid_score

#: keys that never separate records: where things are, the display name, and the seed (seeds pool)
_NOT_KEYS = (*keys_with_role(LOCATION, LABEL), "train.seed")


def _digest(value: Any, length: int = 8) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:length]


def _without(values: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    out = json.loads(json.dumps(values, default=str))
    for key in keys:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


@dataclass
class ScoredRun:
    """One run's protocol results as found on disk."""

    run_dir: Path
    protocol: str
    summary: dict[str, Any]
    config: RunConfig
    method: str

    @property
    def identity(self) -> dict[str, Any]:
        """The configuration that decides the run, the seed left out."""
        return _without(config_to_dict(self.config), _NOT_KEYS)

    @property
    def training_key(self) -> str:
        record = self.summary.get("training_data")
        return _digest(record.get("splits") if isinstance(record, dict) else "generated")

    @property
    def test_key(self) -> str:
        test = self.summary.get("test_data")
        return _digest(test if test is not None else [self.summary["base"], self.summary["base_options"],
                                                      self.summary["split"]])

    def key(self) -> tuple:
        return (self.method, pretraining_tag(self.config.model.pretrained), self.summary["base"],
                self.summary["split"], self.protocol, _digest(self.identity), self.training_key, self.test_key)


def method_name(config: RunConfig) -> str:
    """The method's name when no suite names it: ``suite/experiment/METHOD/seedK`` gives METHOD."""
    parts = config.name.split("/")
    if len(parts) >= 2 and parts[-1].startswith("seed"):
        return parts[-2]
    return config.name if config.name != "run" else config.model.name


def _manifest_methods(root: Path) -> dict[Path, str]:
    """Run directory (resolved) -> the suite's row name, for every manifest.csv under ``root``."""
    out: dict[Path, str] = {}
    for manifest in sorted(Path(root).rglob("manifest.csv")):
        rows = pd.read_csv(manifest, dtype=str, keep_default_na=False, usecols=lambda c: c in ("run_dir", "method"))
        if not {"run_dir", "method"} <= set(rows.columns):
            continue
        for run_dir, method in zip(rows["run_dir"], rows["method"]):
            if run_dir:
                out[resolve_path(run_dir, manifest.parent).resolve()] = method
    return out


def find_scored_runs(roots: Iterable[Path], skipped: list[str] | None = None) -> list[ScoredRun]:
    """Every run with a scored protocol under ``roots`` (see the module docstring); summaries that cannot enter
    the leaderboard are added to ``skipped``, each with why."""
    skipped = [] if skipped is None else skipped
    names: dict[Path, str] = {}
    candidates: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such folder (a runs root or a reports root)")
        names.update(_manifest_methods(root))
        candidates |= {p.parents[2].resolve() for p in root.rglob("robustness/*/summary.json")}
    candidates |= {p for p in names if (p / "robustness").is_dir()}
    found = []
    for run_dir in sorted(candidates):
        config = load_config(run_dir)
        for summary_path in sorted((run_dir / "robustness").glob("*/summary.json")):
            name = summary_path.parent.name
            summary = read_json(summary_path, f"score the protocol again: oadn-bench evaluate {run_dir} --protocol "
                                              f"{name}")
            problem = protocol_problem(name, summary)
            if problem:
                skipped.append(f"{summary_path}: {problem}")
                continue
            found.append(ScoredRun(run_dir, name, summary, config, names.get(run_dir) or method_name(config)))
    return found


def protocol_problem(name: str, summary: dict[str, Any]) -> str:
    """Why a protocol summary cannot enter the leaderboard ("" when it can): its protocol must be a built-in one
    as defined now (a record compares like with like)."""
    if name not in PROTOCOLS:
        return f"protocol {name!r} is not built in ({', '.join(PROTOCOLS)}); its figures are not comparable"
    if summary.get("protocol") != json.loads(json.dumps(asdict(PROTOCOLS[name]))):
        return (f"scored under another definition of {name!r} than this version's; score it again: oadn-bench "
                f"evaluate RUN --protocol {name}")
    return ""


@dataclass
class Group:
    """The runs (seeds) of one record."""

    key: tuple
    runs: list[ScoredRun] = field(default_factory=list)

    @property
    def first(self) -> ScoredRun:
        return self.runs[0]

    def scores(self) -> GridScores:
        """Seeds x cells x faces on the faces every seed scored."""
        loaded = [load_correct(run.run_dir, run.protocol) for run in self.runs]
        common = loaded[0][1]
        for _, ids, _ in loaded[1:]:
            common = np.intersect1d(common, ids)
        stacked = np.stack([correct[:, np.intersect1d(common, ids, return_indices=True)[2]]
                            for correct, ids, _ in loaded])
        return GridScores(self.first.summary["cells"], stacked, common)

    def is_baseline_for(self, other: "Group") -> bool:
        """Whether this group is the GAP baseline trained as ``other`` was (see :mod:`.robustness_score`)."""
        mine, theirs = self.first, other.first
        if mine.config.model.name != "baseline" or mine.protocol != theirs.protocol:
            return False
        if (mine.test_key, mine.training_key) != (theirs.test_key, theirs.training_key):
            return False
        a, b = mine.identity, theirs.identity
        same_model = all(a["model"][k] == b["model"][k] for k in ("backbone", "pretrained"))
        return same_model and a["data"] == b["data"] and a["train"] == b["train"]


def group_runs(runs: Iterable[ScoredRun]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for run in runs:
        groups.setdefault(run.key(), Group(run.key())).runs.append(run)
    for group in groups.values():
        group.runs.sort(key=lambda r: r.config.train.seed)
    return list(groups.values())


def build_records(groups: list[Group], *, resamples: int = 2000,
                  on_record: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """One record per group, scored against its baseline (None where no GAP baseline was trained the same way);
    ``on_record`` is called after each (a progress bar)."""
    scores = {id(g): g.scores() for g in groups}
    records = []
    for group in groups:
        baseline = next((b for b in groups if b.is_baseline_for(group)), None)
        result = grid_score(scores[id(group)], scores[id(baseline)] if baseline else None, resamples=resamples)
        run = group.first
        method, pretraining, base, split, protocol, identity, training, test = group.key
        records.append({
            "method": method, "model": run.config.model.name, "backbone": run.config.model.backbone,
            "pretraining": pretraining, "dataset": base, "split": split, "protocol": protocol,
            "protocol_definition": run.summary["protocol"], "source": "ours",
            "key": {"configuration": identity, "training_data": training, "test_data": test},
            "image_size": run.config.data.image_size, "seeds": [r.config.train.seed for r in group.runs],
            "runs": [str(r.run_dir) for r in group.runs],
            "baseline": None if baseline is None else {"method": baseline.key[0],
                                                       "runs": [str(r.run_dir) for r in baseline.runs]},
            **result, "oadn_bench": __version__,
        })
        if on_record is not None:
            on_record()
    return records


def record_name(record: dict[str, Any]) -> str:
    """``<method>-<pre-training>-<data set>-<protocol>-<digest>.json``, safe as a file name."""
    text = f"{record['method']}-{record['pretraining']}-{record['dataset']}-{record['protocol']}"
    return f"{re.sub(r'[^A-Za-z0-9._+-]+', '-', text).strip('-')[:80]}-{_digest(record['key'])}.json"
