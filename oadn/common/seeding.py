"""Every random draw of the data path as a pure function of (seed, epoch, key): the one seeding rule.

A draw never depends on load order, worker, batch composition or process, so an interrupted run that resumes
replays exactly what an uninterrupted one saw, and the ranks of a distributed run draw what one process draws.

- :func:`rng_for` gives a numpy Generator for one entity (a synthetic face, an occluder sprite): keys are
  integers or strings (hashed with CRC-32).
- :func:`uniform_for` gives uniforms for a whole batch at once, one row per item key, from a counter-based hash
  (SplitMix64): no Python per item, which is what keeps a batch's draws next to free.
"""

from __future__ import annotations

import zlib

import numpy as np

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def key_int(key: int | str) -> int:
    """A key part as a non-negative integer: itself, or a string's CRC-32."""
    if isinstance(key, str):
        return zlib.crc32(key.encode())
    if int(key) < 0:
        raise ValueError(f"seed keys must be >= 0, got {key}")
    return int(key)


def rng_for(seed: int, epoch: int, *key: int | str) -> np.random.Generator:
    """The generator of one entity's draws in ``epoch`` (epoch 0: test sets and anything drawn once)."""
    return np.random.default_rng([key_int(seed), key_int(epoch), *map(key_int, key)])


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic): a cheap, well-mixed hash."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
    return z ^ (z >> np.uint64(31))


def item_keys(names: list[str] | tuple[str, ...]) -> np.ndarray:
    """uint64 keys of items named by strings (image ids): what :func:`uniform_for` draws per item."""
    return np.fromiter((zlib.crc32(name.encode()) for name in names), dtype=np.uint64, count=len(names))


def uniform_for(seed: int, epoch: int, stream: str, keys: np.ndarray, count: int = 1) -> np.ndarray:
    """len(keys) x ``count`` uniforms in [0, 1): row i depends only on (seed, epoch, stream, keys[i]).

    ``stream`` names what the draws are for (flip, occluder, ...), so two uses never share numbers."""
    head = splitmix64(np.array([key_int(seed)], dtype=np.uint64))
    head = splitmix64(head ^ np.uint64(key_int(epoch)))
    head = splitmix64(head ^ np.uint64(key_int(stream)))
    per_item = splitmix64(head ^ np.asarray(keys, dtype=np.uint64))
    bits = splitmix64(per_item[:, None] ^ (np.arange(count, dtype=np.uint64)[None, :] + np.uint64(1)))
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)
