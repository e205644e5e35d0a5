"""File names of report figures, made from names users give (experiments, test sets, methods, parameters).

A slug alone keeps ASCII letters and digits, so methods named 😀 and 😢, two CJK names, or columns differing
only in case or punctuation all became one file, and the page showed one figure under several names. A name here
is the readable slug plus eight hex digits of the exact names, so it is one file per (experiment, column,
method) whatever the names hold, on case-insensitive file systems too. The complete list of a suite's figures
is known before any training, so ``run`` checks it against the report folder first.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Iterable

#: longest slug kept of each name: the file name stays far below the 255 bytes file systems allow
SLUG_CHARACTERS = 40
#: the figures a suite report draws per test set, and per test set and method
COLUMN_FIGURES = ("bars", "reliability", "pairs", "disagreements")
METHOD_FIGURES = ("confusion",)


def slug(text: object) -> str:
    """A readable, lower-case ASCII form of ``text`` (not unique: see :func:`figure_name`)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()[:SLUG_CHARACTERS].strip("-") or "x"


def figure_name(kind: str, *names: object) -> str:
    """``<kind>_<slug>_<slug>-<8 hex>.png``; the digest is of the exact names, in order."""
    digest = hashlib.sha256(json.dumps([str(n) for n in names], ensure_ascii=False).encode()).hexdigest()[:8]
    return f"{kind}_{'_'.join(slug(n) for n in names)}-{digest}.png"


def suite_figures(experiments: Iterable[tuple[str, Iterable[str], Iterable[str]]]) -> list[str]:
    """Every figure a suite report may draw (relative to its folder), from (experiment id, column names, method
    names) each: what ``run`` checks before training."""
    out = []
    for experiment, columns, methods in experiments:
        methods = list(methods)
        for column in columns:
            out += [f"figures/{figure_name(kind, experiment, column)}" for kind in COLUMN_FIGURES]
            out += [f"figures/{figure_name(kind, experiment, column, method)}" for kind in METHOD_FIGURES
                    for method in methods]
    return out
