"""Commands printed as advice are quoted for a POSIX shell, so each runs as printed: a path with spaces, quotes or
non-ASCII characters, or a ``--set`` value with brackets and spaces, stays one argument when pasted."""

from __future__ import annotations

import shlex


def command_line(*words: object) -> str:
    """``words`` (each turned into text) joined into one shell command line, every word quoted where needed."""
    return shlex.join(str(word) for word in words)
