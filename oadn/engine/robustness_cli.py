"""``oadn-bench evaluate RUN --protocol NAME``: a finished run on a robustness protocol's severity grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from rich.table import Table

from oadn.common.console import console, log


def grid_table(summary: dict[str, Any]) -> Table:
    """Accuracy (%) per kind (rows) and severity (columns); the clean cell and the swaps on rows of their own."""
    severities = summary["protocol"]["severities"]
    table = Table(title=f"{summary['run']}: {summary['protocol']['name']} on {summary['base']} {summary['split']} "
                        f"(accuracy %)")
    table.add_column("kind")
    for severity in severities:
        table.add_column(f"{round(100 * severity)}%", justify="right")
    by_kind: dict[str, dict] = {}
    for cell in summary["cells"]:
        by_kind.setdefault(cell["kind"], {})[cell["severity"]] = cell["accuracy"]
    for kind, values in by_kind.items():
        if None in values:  # clean and the swaps: one figure
            table.add_row(kind, f"{100 * values[None]:.2f}", *[""] * (len(severities) - 1))
        else:
            table.add_row(kind, *[f"{100 * values[s]:.2f}" for s in severities])
    return table


def evaluate_protocol(run: Path, name: str, *, data: Optional[str], root: Optional[Path], split: list[str],
                      option: list[str], cache_dir: Optional[Path], progress: bool) -> None:
    """Score ``run`` on protocol ``name`` and print its grid (see :mod:`oadn.engine.robustness`)."""
    from oadn.config import ConfigError
    from oadn.engine.cli import _cache_dir
    from oadn.engine.robustness import get_protocol, protocol_dir, score_protocol
    from oadn.engine.run_dir import load_config

    try:
        protocol = get_protocol(name)
    except KeyError as error:
        raise ConfigError(f"--protocol: {error.args[0]}") from error
    if data or option:
        raise ConfigError("--protocol scores the run's own data set on the protocol's grid; drop --data and --option")
    if len(split) > 1:
        raise ConfigError(f"--protocol scores one test split; got {len(split)} (--split {' --split '.join(split)})")
    own = load_config(run).data
    recorded = own.split_options.get("cache_dir") if cache_dir is None else None
    cache = Path(recorded) if recorded else _cache_dir(own.name, own.options, cache_dir)
    summary = score_protocol(run, protocol, split=split[0] if split else None, root=root,
                             split_options={"cache_dir": str(cache)} if cache else None, progress=progress, log=log)
    console.print(grid_table(summary))
    log(f"written to {protocol_dir(Path(run), protocol.name)}/ (summary.json, correct.npz)")
