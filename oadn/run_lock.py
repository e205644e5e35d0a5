"""One process at a time per run directory: two processes training the same run would overwrite each other's
checkpoints. The lock is an advisory ``flock`` on ``<run>/.lock``, which the kernel drops when its process dies
(even by kill -9), so a lock left by a dead process is simply taken over; the file records who holds it."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path
from types import TracebackType


class RunLockedError(RuntimeError):
    """Another live process is training or resuming this run directory."""


class RunLock:
    """``with RunLock(run_dir):`` holds the run directory for this process; ``stale`` names a dead holder taken over."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.stale: str | None = None
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLockedError(
                f"{self.path.parent} is in use by {holder}; wait for it to finish or stop it "
                "(a second process would overwrite its checkpoints)"
            ) from None
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
