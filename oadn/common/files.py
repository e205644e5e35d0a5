"""Files written so that nothing is ever half-saved: each is written to a temporary file beside its target and
renamed into place, with the mode ``open()`` would give it (0666 less the umask), not mkstemp's 0600."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

#: how a temporary file of :func:`atomic_write` is named: ``.<target name>.<random>.tmp``
TEMPORARY_GLOB = ".*.*.tmp"


def _user_file_mode() -> int:
    """0666 less the process umask: the mode ``open()`` gives a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(temporary path)``, then rename the temporary file onto ``path``; on any failure the
    temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _user_file_mode())
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_bytes(data: bytes, path: Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def save_json(obj: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def save_torch(obj: Any, path: Path) -> None:
    import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_parquet(frame: Any, path: Path) -> None:
    """A pandas frame as parquet, without its index."""
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
