"""What a copy of a data set holds, as a short fingerprint per split: the image ids and labels, and the pixels.

The root path is rightly not part of a run's identity (the same data moves between disks and machines), but
the data's content must be: a run records the fingerprints of the splits it trained, validated and was tested
on, and a suite reuses it (or an evaluation its figures) only for data with the same fingerprints. The same
images and labels at another path match; another copy with other images or labels does not, and neither does a
copy with the same file names and labels but other pixels (each image file's bytes are digested, see
:mod:`oadn.data.pixel_digests`; a pack's by its face array). A fingerprint recorded before pixels were digested
has no ``pixels``: it is matched on what it recorded (names and labels).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from oadn.data.pixel_digests import array_digests, file_digests
from oadn.data.registry import DatasetAdapter

if TYPE_CHECKING:
    from oadn.data.packed import Pack


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def index_fingerprints(index: pd.DataFrame, pixels: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Split -> {"images": count, "sha256": 16 hex digits of the sorted (image id, label) pairs, "pixels": 16 hex
    digits of the sorted (image id, digest of its pixels) pairs (only when ``pixels`` maps ids to digests)}."""
    out = {}
    for split, rows in index.groupby("split", sort=True):
        pairs = sorted(zip(rows["image_id"].astype(str), rows["label"].astype(int)))
        entry: dict[str, Any] = {"images": len(pairs),
                                 "sha256": _short("".join(f"{image_id}\t{label}\n" for image_id, label in pairs))}
        if pixels is not None:
            entry["pixels"] = _short("".join(f"{image_id}\t{pixels[image_id]}\n" for image_id, _ in pairs))
        out[str(split)] = entry
    return out


def copy_fingerprints(index: pd.DataFrame, root: Path, cache_dir: Path | str | None = None,
                      pack: Pack | None = None) -> dict[str, dict[str, Any]]:
    """The fingerprints of the copy at ``root`` whose index is ``index``: image files digested by their bytes
    (digests kept beside the prepared caches), or, for a pack, its faces by their array."""
    cache = Path(cache_dir) if cache_dir else None
    ids = index["image_id"].astype(str)
    if pack is not None:
        faces = dict(zip(pack.table["image_id"].astype(str), array_digests(pack.images, pack.directory)))
        return index_fingerprints(index, {i: faces.get(i, "missing") for i in ids})
    return index_fingerprints(index, dict(zip(ids, file_digests(index["path"], root, cache))))


def data_fingerprints(adapter: DatasetAdapter, root: Path | str | None,
                      cache_dir: Path | str | None = None) -> dict[str, dict[str, Any]] | None:
    """The fingerprints of every split of ``adapter`` at ``root`` (a folder or a pack file); None for a data set
    generated from its options (synthetic), which the run's configuration already pins down."""
    if not adapter.needs_root or root is None:
        return None
    from oadn.data.pack_archive import is_pack, unpack
    from oadn.data.packed import Pack

    root = Path(root)
    if is_pack(root):
        pack = Pack(unpack(root, Path(cache_dir) if cache_dir else None))
        return copy_fingerprints(adapter.index(pack.root), root, cache_dir, pack)
    return copy_fingerprints(adapter.index(root), root, cache_dir)


def same_content(recorded: dict[str, Any] | None, current: dict[str, Any] | None) -> bool:
    """Whether a recorded split fingerprint and a current one are of the same data: every field the record has
    must agree (a record from before pixels were digested is matched on names and labels)."""
    if recorded is None or current is None:
        return recorded == current
    return all(current.get(key) == value for key, value in recorded.items())


def same_splits(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """:func:`same_content` for every split of two ``data.json`` split maps."""
    return set(recorded) == set(current) and all(same_content(recorded[s], current[s]) for s in recorded)


def differences(recorded: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]],
                splits: list[str] | tuple[str, ...]) -> list[str]:
    """One phrase per split of ``splits`` whose fingerprint differs, e.g. "test: 51 images then, 20 now"."""
    out = []
    for split in splits:
        then, now = recorded.get(split), current.get(split)
        if same_content(then, now):
            continue
        count = lambda entry: entry["images"] if entry else 0  # noqa: E731
        if count(then) != count(now):
            what = f"{count(then)} images then, {count(now)} now"
        elif then.get("sha256") == now.get("sha256"):
            what = "the same image names and labels, other pixels"
        else:
            what = "other images or labels"
        out.append(f"{split}: {what}")
    return out
