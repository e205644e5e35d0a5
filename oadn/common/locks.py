"""A folder held by one process at a time: a run directory while it trains, a prepared cache while it is filled.

Two processes writing one folder would overwrite each other's files or do all the work twice. The lock is an
advisory ``flock`` on ``<folder>/.lock``, which the kernel drops when its process dies (even by kill -9), so a lock
left by a dead process is simply taken over; the file records who holds it, and a second process is refused at
once, naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path
from types import TracebackType


class FolderLockedError(RuntimeError):
    """Another live process holds the folder."""


class FolderLock:
    """``with FolderLock(folder, why):`` holds ``folder`` for this process; ``stale`` names a dead holder taken over.
    ``why`` says what a second process would do (it ends the refusal); ``error`` is the exception a refusal raises."""

    error: type[FolderLockedError] = FolderLockedError

    def __init__(self, folder: Path, why: str = "a second process would overwrite what it writes"):
        self.path = Path(folder) / ".lock"
        self.why = why
        self.stale: str | None = None
        self._fd: int | None = None

    def __enter__(self) -> "FolderLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise self.error(f"{self.path.parent} is in use by {holder}; wait for it to finish or stop it "
                             f"({self.why})") from None
        previous = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if previous:  # a holder releases by emptying the file; a killed one cannot, and the kernel freed its flock
            self.stale = f"took over the lock of a process that is no longer running ({previous})"
        os.ftruncate(fd, 0)
        holder = f"pid={os.getpid()} host={socket.gethostname()} since={time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
        os.pwrite(fd, holder.encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
