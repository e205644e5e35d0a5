"""Files written so that nothing is ever half-saved: each is written to a temporary file beside its target and
renamed into place, with the mode ``open()`` would give it (0666 less the umask), not mkstemp's 0600.

Torch files are read back only as tensors and plain values (``weights_only=True``): researchers pass checkpoints
and model files to each other, and a full unpickle of a crafted file runs its code."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

#: how a temporary file of :func:`atomic_write` is named: ``.<target name>.<random>.tmp``
TEMPORARY_GLOB = ".*.*.tmp"


def _user_file_mode() -> int:
    """0666 less the process umask: the mode ``open()`` gives a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class DiskFullError(OSError):
    """No space (or quota) left on the device a file was being written to; the message names the file, the
    folder and what was kept; ``path`` is the file."""

    path: Path | None = None

    def __str__(self) -> str:
        return str(self.strerror)


def out_of_space(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised while handling, is a full disk or an exhausted quota (torch's
    writer and matplotlib raise their own errors on top of the OSError)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full(folder: Path, what: str, kept: str = "") -> DiskFullError:
    """The error naming ``folder``, ``what`` was being written there and ``kept`` (what is left as it was)."""
    error = DiskFullError(errno.ENOSPC, f"no space left on the device holding {folder} while writing {what}"
                                        f"{f' ({kept})' if kept else ''}; free some space there and run the command "
                                        f"again")
    error.path = Path(folder) / what
    return error


@contextmanager
def naming_a_full_disk(folder: Path, what: str, kept: str = "") -> Iterator[None]:
    """Run the block; a full disk met in it becomes one :class:`DiskFullError` (:func:`disk_full`); any other
    error passes unchanged."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        if not out_of_space(error):
            raise
        raise disk_full(folder, what, kept) from None


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(temporary path)``, then rename the temporary file onto ``path``; on any failure the
    temporary file is removed and ``path`` is left as it was (a full disk is a :class:`DiskFullError`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _user_file_mode())
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, Exception) and not isinstance(error, DiskFullError) and out_of_space(error):
            kept = f"the previous {path.name} is intact" if path.exists() else f"nothing was written to {path}"
            raise disk_full(path.parent, path.name, kept) from None
        raise


def save_bytes(data: bytes, path: Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def save_json(obj: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def save_torch(obj: Any, path: Path) -> None:
    """``obj`` saved by torch, through a Python file: on a full disk that raises the OSError itself, where torch's
    own file writer raises "enforce fail at inline_container.cc ... unexpected pos"."""
    import torch

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)

    atomic_write(path, write)


def save_npz(arrays: dict[str, Any], path: Path, *, compressed: bool = True) -> None:
    """``arrays`` in one .npz at ``path``, written atomically through a Python file (``np.savez`` given a name
    would append ``.npz`` to it)."""
    import numpy as np

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            (np.savez_compressed if compressed else np.savez)(handle, **arrays)

    atomic_write(path, write)


class DamagedFileError(ValueError):
    """A file the tool wrote that cannot be read back (truncated, edited, zero bytes)."""


def read_checked(path: Path, read: Callable[[Path], T], advice: str) -> T:
    """``read(path)``; a failure to parse it is a :class:`DamagedFileError` naming the file and what to do (a
    missing file stays a FileNotFoundError)."""
    path = Path(path)
    try:
        return read(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError) as error:  # pyarrow's and pandas' errors: ValueError
        text = str(error).strip().splitlines()
        raise DamagedFileError(f"{path}: damaged, cannot be read ({text[0] if text else type(error).__name__}); "
                               f"{advice}") from None


def read_json(path: Path, advice: str) -> Any:
    """The JSON document at ``path``; damage is a :class:`DamagedFileError` (see :func:`read_checked`)."""
    return read_checked(path, lambda p: json.loads(p.read_text()), advice)


class TorchFileError(ValueError):
    """A torch file that cannot be read (empty, truncated, not a torch file)."""


class UnsafeTorchFileError(TorchFileError):
    """A torch file holding Python objects other than tensors and plain values: refused, never unpickled."""


def load_torch(path: Path, map_location: Any = "cpu") -> Any:
    """The tensors and plain values saved in ``path``, loaded with ``weights_only=True``; a file that needs a full
    unpickle is an :class:`UnsafeTorchFileError`, any other failure a :class:`TorchFileError`, both one line
    naming the file."""
    import pickle

    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()
        detail = next((line.strip() for line in reason if "Unsupported global" in line or "GLOBAL" in line),
                      reason[0] if reason else "")
        raise UnsafeTorchFileError(
            f"{path}: refused: it holds Python objects, not only tensors and plain values, and loading it would run "
            f"code from the file ({detail}); only files this tool wrote can be read"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TorchFileError(f"{path}: cannot be read as a torch file (truncated or not one: {first})") from None


def save_parquet(frame: Any, path: Path) -> None:
    """A pandas frame as parquet, without its index."""
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
