"""``oadn-bench migrate``: the one-time step that moves finished runs to this version's run identity.

A suite finds a run by the hash in its directory name (``seed<k>-<hash>``). Every run keeps its hash through
configuration format 2 except one whose method carried an OADN setting it never used at a value other than
format 1's default (e.g. a baseline trained under a suite base that set ``lab_pooling: mean``): that setting is no
longer part of a baseline's configuration, so its hash moves. ``migrate`` renames such a directory to the hash
this version computes for it (nothing inside changes: every version reads an older config.yaml as it was
written), so the suite reuses the run instead of training it again. It says what it renamed, and what it left
and why; ``--dry-run`` only says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from oadn.config import ConfigError, load_yaml, run_config_from_dict
from oadn.engine.run_dir import RunLock, RunLockedError
from oadn.experiments.identity import config_hash

#: a run directory a suite names: seed<k>-<hash>, and -data<8 hex> for the same configuration on other data
RUN_NAME = re.compile(r"(?P<seed>seed\d+)-(?P<hash>[0-9a-f]{8})(?P<data>-data[0-9a-f]{8})?")


@dataclass
class Migration:
    """What happened to one run directory: ``renamed`` (to ``target``), ``kept`` (its hash is today's), or
    ``left`` (with ``reason``)."""

    run: Path
    outcome: str
    target: Path | None = None
    reason: str = ""
    #: ``renamed`` only said, not done (``--dry-run``)
    dry_run: bool = False

    def line(self) -> str:
        if self.outcome == "renamed":
            return f"{'would rename' if self.dry_run else 'renamed'} {self.run} -> {self.target.name}"
        return f"left {self.run}: {self.reason}"


def migrate_run(run: Path, dry_run: bool) -> Migration:
    """Rename ``run`` to the directory name this version gives its configuration, when that differs."""
    match = RUN_NAME.fullmatch(run.name)
    if match is None:
        return Migration(run, "left", reason="not named by its hash (a run trained with --run-dir is found by path)")
    try:
        config = run_config_from_dict(load_yaml(run / "config.yaml"), str(run / "config.yaml"))
        digest = config_hash(config)
    except ConfigError as error:
        return Migration(run, "left", reason=str(error))
    if digest == match["hash"]:
        return Migration(run, "kept")
    target = run.with_name(f"{match['seed']}-{digest}{match['data'] or ''}")
    if target.exists():
        return Migration(run, "left", target, f"{target.name} exists beside it (the same run trained again?)")
    if dry_run:
        return Migration(run, "renamed", target, dry_run=True)
    try:
        with RunLock(run):  # a run being trained is not moved from under its process; the lock follows the rename
            run.rename(target)
    except RunLockedError as error:
        return Migration(run, "left", target, str(error))
    return Migration(run, "renamed", target)


def migrate_runs(runs_root: Path, dry_run: bool = False) -> list[Migration]:
    """Every run directory under ``runs_root`` (a folder holding config.yaml), migrated in path order."""
    runs = sorted({path.parent for path in Path(runs_root).rglob("config.yaml")})
    return [migrate_run(run, dry_run) for run in runs]
