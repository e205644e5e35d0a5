"""Precomputed landmarks imported from a file, in original image pixels.

Accepted formats:
- CSV or parquet: a ``name`` column (image id, file name or file stem) and columns ``x0..x67``, ``y0..y67``
  and optionally ``s0..s67`` (scores; 1.0 when absent);
- NPZ (``numpy.savez``): one array per name, of shape 3 x 68 (rows x, y, score) or 68 x 3; read without pickle;
- pickle: a dict ``name -> array`` of the same shapes, read only when the spec says the file is trusted
  (``file:PATH?trust_pickle=1``): loading a pickle runs whatever code the file holds.
A row of the index matches by image id first, then by file name, then by file stem.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from oadn.common.commands import command_line
from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.data.landmarks.base import (
    LandmarkBackend,
    LandmarkBackendError,
    SourceLandmarkBackend,
    register_landmark_backend,
)

_X = [f"x{i}" for i in range(NUM_LANDMARKS)]
_Y = [f"y{i}" for i in range(NUM_LANDMARKS)]
_S = [f"s{i}" for i in range(NUM_LANDMARKS)]


@register_landmark_backend("file")
class FileLandmarks(SourceLandmarkBackend):
    @classmethod
    def from_spec(cls, argument: str, *, device: str = "cpu", fan_weights: Path | None = None) -> LandmarkBackend:
        path, trust_pickle = split_file_argument(argument)
        if not path:
            raise LandmarkBackendError("--landmarks file:PATH needs the path of a CSV, parquet or NPZ file")
        return cls(Path(path), trust_pickle=trust_pickle)

    def __init__(self, path: Path, trust_pickle: bool = False):
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise LandmarkBackendError(f"landmark file {self.path} not found")
        self.table, self.provides_scores = _load(self.path, trust_pickle)
        scores = "scores from the file" if self.provides_scores else "no scores (all 1.0)"
        self.description = f"file {self.path.name}; {scores}"

    def lookup(self, rows: pd.DataFrame) -> list[np.ndarray | None]:
        found = []
        for image_id, path in zip(rows["image_id"], rows["path"]):
            name = Path(str(path)).name
            keys = (str(image_id), name, Path(name).stem)
            found.append(next((self.table[k] for k in keys if k in self.table), None))
        return found


def split_file_argument(argument: str) -> tuple[str, bool]:
    """``PATH`` or ``PATH?trust_pickle=1`` -> (PATH, whether a pickle file is trusted)."""
    path, sep, flags = argument.rpartition("?")
    if not sep:
        return argument, False
    if flags not in ("trust_pickle=1", "trust_pickle=0"):
        raise LandmarkBackendError(f"--landmarks file:{argument}: unknown flag {flags!r}; the one flag is "
                                   "?trust_pickle=1 (read a pickle file you trust)")
    return path, flags == "trust_pickle=1"


def _load(path: Path, trust_pickle: bool = False) -> tuple[dict[str, np.ndarray], bool]:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return {name: _from_array(path, name, arrays[name]) for name in arrays.files}, True
        except ValueError as error:  # an object array needs pickle: refused like a pickle file
            raise LandmarkBackendError(f"{path}: not a plain NPZ of number arrays ({error})") from None
    if suffix in (".pkl", ".pickle"):
        if not trust_pickle:
            raise LandmarkBackendError(
                f"{path}: refused: a pickle file runs any code it holds when loaded. Convert it to CSV, parquet "
                f"or NPZ (numpy.savez(FILE, **{{name: array}})), or, for a file you trust, pass "
                f"{command_line('--landmarks', f'file:{path}?trust_pickle=1')}"
            )
        with open(path, "rb") as fh:
            raw = pickle.load(fh)
        if not isinstance(raw, dict):
            raise LandmarkBackendError(f"{path}: expected a pickled dict name -> 3 x 68 array, got {type(raw)}")
        return {str(k): _from_array(path, k, v) for k, v in raw.items()}, True
    if suffix == ".csv":
        frame = _read_table(path, "CSV", pd.read_csv)
    elif suffix in (".parquet", ".pq"):
        frame = _read_table(path, "parquet", pd.read_parquet)
    else:
        raise LandmarkBackendError(f"{path}: expected a .csv, .parquet or .npz landmark file (or a trusted .pkl)")
    missing = [c for c in ["name", *_X, *_Y] if c not in frame.columns]
    if missing:
        raise LandmarkBackendError(f"{path}: missing columns "
                                   f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    has_scores = all(c in frame.columns for c in _S)
    xy = np.stack([frame[_X].to_numpy(np.float32), frame[_Y].to_numpy(np.float32)], axis=-1)
    scores = frame[_S].to_numpy(np.float32) if has_scores else np.ones(xy.shape[:2], np.float32)
    points = np.concatenate([xy, np.clip(scores, 0, 1)[..., None]], axis=-1)
    return {str(n): p for n, p in zip(frame["name"], points)}, has_scores


def _looks_pickled(path: Path) -> bool:
    """Whether the file starts as pickle protocols 2 to 5 do (0x80 and the protocol number)."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _read_table(path: Path, kind: str, read: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """``read(path)``; a file that is not a ``kind`` table (a pickle renamed .csv, a damaged file) is a
    LandmarkBackendError naming it, never a bare decoder error."""
    try:
        return read(path)
    except (ValueError, OSError) as error:  # UnicodeDecodeError, pandas' ParserError and pyarrow's are ValueErrors
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        why = (": it is a pickle file; loading one runs whatever code it holds, so convert it to CSV, parquet or NPZ, "
               "or, for a file you made yourself, name it .pkl and pass --landmarks 'file:PATH?trust_pickle=1'"
               if _looks_pickled(path) else f" ({first})")
        raise LandmarkBackendError(f"{path}: not a {kind} landmark file{why}") from None


def _from_array(path: Path, key, value) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    if array.shape == (3, NUM_LANDMARKS):
        array = array.T
    if array.shape != (NUM_LANDMARKS, 3):
        raise LandmarkBackendError(f"{path}: entry {key!r} has shape {array.shape}, expected 3 x 68 or 68 x 3")
    array = array.copy()
    array[:, 2] = np.clip(array[:, 2], 0, 1)
    return array
