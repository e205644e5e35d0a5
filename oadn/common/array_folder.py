"""A folder of named arrays, written whole and renamed into place, read back memory-mapped.

What the data path computes once and reads many times (aligned faces decoded and warped once, a test split's
occluded faces painted once) lives in such a folder: readers see all of it or none of it (a killed writer
leaves only a hidden temporary folder), two processes writing the same folder at once both succeed (the second
discards its copy), and loader workers share the pages.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from numpy.lib.format import open_memmap

META = "meta.json"


@dataclass
class Draft:
    """The folder being written: ``arrays`` are writable memory maps (assign another array to a name to save
    that instead, e.g. a grey copy of an RGB array); ``meta`` is written last."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


class ArrayFolder:
    """``directory`` holding ``<name>.npy`` arrays and ``meta.json`` (written last: its presence means complete)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def exists(self) -> bool:
        return (self.directory / META).is_file()

    def meta(self) -> dict[str, Any]:
        return json.loads((self.directory / META).read_text())

    def array(self, name: str) -> np.ndarray:
        """Array ``name``, memory-mapped read-only."""
        return np.load(self.directory / f"{name}.npy", mmap_mode="r")

    @contextmanager
    def writing(self, arrays: dict[str, tuple[tuple[int, ...], Any]]) -> Iterator[Draft]:
        """A :class:`Draft` of arrays ``name -> (shape, dtype)`` in a temporary folder beside the target, moved
        into place when the block ends without an error; on an error nothing is left behind."""
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.directory.parent, prefix=f".{self.directory.name}."))
        try:
            maps = {name: open_memmap(scratch / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
                    for name, (shape, dtype) in arrays.items()}
            draft = Draft(dict(maps))
            yield draft
            for name, array in draft.arrays.items():
                if array is maps.get(name):
                    array.flush()
                else:
                    maps.pop(name, None)
                    np.save(scratch / f"{name}.npy", np.asarray(array))
            del maps
            (scratch / META).write_text(json.dumps(draft.meta, indent=1) + "\n")
            self._move_into_place(scratch)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OSError(error.errno, f"no space left on the device holding {self.directory.parent} while "
                                           f"writing {self.directory.name}; free some space there and run the "
                                           "command again") from None
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _move_into_place(self, scratch: Path) -> None:
        if self.directory.exists() and not self.exists():  # an incomplete leftover: replace it
            shutil.rmtree(self.directory, ignore_errors=True)
        try:
            os.replace(scratch, self.directory)
        except OSError:
            if not self.exists():  # not another process that finished first
                raise
