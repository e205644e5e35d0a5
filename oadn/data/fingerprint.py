"""What a copy of a data set holds, as a short fingerprint per split: the image ids and labels, hashed.

The root path is rightly not part of a run's identity (the same data moves between disks and machines), but
the data's content must be: a run records the fingerprints of the splits it trained, validated and was tested
on, and a suite reuses it (or an evaluation its figures) only for data with the same fingerprints. The same
images and labels at another path match; another copy with other images or labels does not.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from oadn.data.registry import DatasetAdapter


def index_fingerprints(index: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Split -> {"images": count, "sha256": 16 hex digits of the sorted (image id, label) pairs}."""
    out = {}
    for split, rows in index.groupby("split", sort=True):
        pairs = sorted(zip(rows["image_id"].astype(str), rows["label"].astype(int)))
        text = "".join(f"{image_id}\t{label}\n" for image_id, label in pairs)
        out[str(split)] = {"images": len(pairs), "sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}
    return out


def data_fingerprints(adapter: DatasetAdapter, root: Path | str | None,
                      cache_dir: Path | str | None = None) -> dict[str, dict[str, Any]] | None:
    """The fingerprints of every split of ``adapter`` at ``root`` (a folder or a pack file); None for a data set
    generated from its options (synthetic), which the run's configuration already pins down."""
    if not adapter.needs_root or root is None:
        return None
    from oadn.data.packed import Pack, is_pack, unpack

    root = Path(root)
    if is_pack(root):
        root = Pack(unpack(root, Path(cache_dir) if cache_dir else None)).root
    return index_fingerprints(adapter.index(root))


def differences(recorded: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]],
                splits: list[str] | tuple[str, ...]) -> list[str]:
    """One phrase per split of ``splits`` whose fingerprint differs, e.g. "test: 51 images then, 20 now"."""
    out = []
    for split in splits:
        then, now = recorded.get(split), current.get(split)
        if then == now:
            continue
        count = lambda entry: entry["images"] if entry else 0  # noqa: E731
        what = "other images or labels" if count(then) == count(now) else f"{count(then)} images then, {count(now)} now"
        out.append(f"{split}: {what}")
    return out
