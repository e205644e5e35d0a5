"""Paper-style tables and figures rendered from run directories.

The two entry points load lazily: importing ``oadn.report`` (as the command line does for ``report``) must not
pull in matplotlib for every other command.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_ENTRY_POINTS = {
    "render_suite_report": "oadn.report.suite_report",
    "render_ablation_report": "oadn.report.ablation_report",
}
__all__ = list(_ENTRY_POINTS)


def __getattr__(name: str) -> Any:
    if name not in _ENTRY_POINTS:
        raise AttributeError(f"module 'oadn.report' has no attribute {name!r}")
    return getattr(import_module(_ENTRY_POINTS[name]), name)
