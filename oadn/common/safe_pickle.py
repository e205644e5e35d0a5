"""Reading a pickle of numpy arrays without running code from it.

Some published weights are pickles of a dict of numpy arrays (the VGGFace2 ResNet-50 converted from Caffe,
``resnet50_ft_weight.pkl``). ``pickle.load`` on a file from the internet runs whatever callables the file names,
so such a file is read by an unpickler that admits only what an array needs: numpy's array reconstructor, the
``ndarray`` and ``dtype`` types, ``OrderedDict``, and the ``_codecs.encode`` call Python 3 pickles use for raw
bytes, restricted to the latin-1 codec. Any other global is refused, naming it and the file, before it is
called; an array of Python objects is refused too (its items would be arbitrary objects).
"""

from __future__ import annotations

import codecs
import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np

#: (module, name) pairs an array pickle may name; numpy 2 writes ``numpy._core``, numpy 1 ``numpy.core``
_ARRAY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
}
_LATIN1 = ("latin1", "latin-1", "iso-8859-1")


class UnsafePickleError(ValueError):
    """A pickle that names something other than numpy arrays and plain containers; it was not run."""


def _latin1_encode(text: str, encoding: str = "utf-8", *rest: Any) -> bytes:
    """``_codecs.encode`` as Python 3 pickles call it for bytes: a str to latin-1 bytes, nothing else."""
    if not isinstance(text, str) or encoding.lower() not in _LATIN1 or rest:
        raise UnsafePickleError(f"_codecs.encode called with {type(text).__name__} and codec {encoding!r}; only a "
                                "str to latin-1 bytes is admitted")
    return codecs.encode(text, "latin1")


class _ArrayUnpickler(pickle.Unpickler):
    def __init__(self, handle, path: Path):
        super().__init__(handle, encoding="latin1")  # Python 2 pickles (Caffe conversions) store bytes as str
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        raise UnsafePickleError(f"{self.path}: refused: the pickle names {module}.{name}, which is not part of a numpy "
                                "array; loading it would run code from the file (only numpy arrays in dicts are read)")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.path}: refused: the pickle holds a persistent reference ({pid!r}); a torch "
                                "file is read with weights_only loading, not as an array pickle")


def load_array_pickle(path: Path) -> dict[str, np.ndarray]:
    """The ``{name: array}`` mapping pickled in ``path``, loaded without running code from it (see the module
    docstring); anything else is an :class:`UnsafePickleError` naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            value = _ArrayUnpickler(handle, path).load()
    except UnsafePickleError:
        raise
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnsafePickleError(f"{path}: not a readable pickle of numpy arrays (truncated or another format: "
                                f"{first})") from None
    if not isinstance(value, (dict, collections.OrderedDict)):
        raise UnsafePickleError(f"{path}: expected a pickled dict of numpy arrays, found {type(value).__name__}")
    bad = [str(key) for key, array in value.items()
           if not isinstance(key, str) or not isinstance(array, np.ndarray) or array.dtype.hasobject]
    if bad:
        raise UnsafePickleError(f"{path}: expected a dict of numeric numpy arrays under string names; "
                                f"{len(bad)} entries are not (e.g. {bad[:3]})")
    return dict(value)
