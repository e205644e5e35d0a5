"""Occlusion / pose test subsets: a list of entries filtering a parent data set's test split.

The RAN lists (Wang et al., TIP 2020) define the Occlusion- and Pose- test sets the OADN paper reports on.
Each list line's first token names an image; it is joined to the parent's test images by a key:
FERPlus by file name (``1_fer0034656.png`` and ``0/fer0032226.jpg`` both mean ``fer0034656``/``fer0032226``:
a leading ``<label>_`` prefix and the extension are dropped), RAF-DB by image id (``test_0003_aligned`` ->
``test_0003``), AffectNet by file stem (the hashed name is the longest path component, whatever folders
surround it: ``val/0/<hash>/``, ``0/<hash>.jpg``, ``7/<hash>/8.jpg``). Labels come from the parent's protocol.

A duplicated entry is counted once, with a warning; an entry matching no test image, or one whose image the
parent's label rule leaves out, is listed (``check``) and counted (a warning from ``index``), never dropped
silently. Lists are looked up in the ``ran_lists`` option, else ``$OADN_RAN_LISTS``, else the copies shipped
in ``oadn/data/ran_lists``; ``list_path`` replaces the list with the user's own.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import pandas as pd

from oadn.data.adapters.common import EXCLUDED, FileDatasetAdapter, raise_if_errors, read_lines, require_file
from oadn.data.on_disk import Problem
from oadn.data.registry import get_dataset, register_dataset

PACKAGED_LISTS = Path(__file__).resolve().parents[1] / "ran_lists"
RAN_LISTS_ENV = "OADN_RAN_LISTS"


def _stem(entry: str) -> str:
    return PurePosixPath(entry.replace("\\", "/").rstrip("/")).stem


def ferplus_key(entry: str) -> str:
    return re.sub(r"^\d+_", "", _stem(entry))


def rafdb_key(entry: str) -> str:
    return re.sub(r"_aligned$", "", _stem(entry))


def affectnet_key(entry: str) -> str:
    parts = [PurePosixPath(p).stem for p in entry.replace("\\", "/").split("/") if p]
    return max(parts, key=len) if parts else ""


#: parent family -> (list entry -> key, parent image_id -> key)
JOIN_KEYS: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
    "ferplus": (ferplus_key, _stem),
    "rafdb": (rafdb_key, rafdb_key),
    "affectnet": (affectnet_key, _stem),
}


def parse_list(path: Path, key: Callable[[str], str]) -> tuple[dict[str, int], list[Problem]]:
    """Key -> 1-based line of its first entry, and warnings for duplicated entries."""
    keys: dict[str, int] = {}
    problems = []
    for line, text in enumerate(read_lines(path), start=1):
        tokens = text.split()
        if not tokens:
            continue
        k = key(tokens[0])
        if k in keys:
            problems.append(Problem(str(path), f"duplicate entry {tokens[0]!r} (first on line {keys[k]}); "
                                    "counted once", line, "warning"))
        else:
            keys[k] = line
    return keys, problems


def resolve_list(relative: str | None, list_path: str | os.PathLike | None,
                 ran_lists: str | os.PathLike | None) -> Path:
    """The list file to use: the user's own, else ``relative`` under the RAN lists directory in effect."""
    if list_path is not None:
        return Path(list_path)
    if relative is None:
        raise ValueError("this subset needs list_path (your own list file)")
    base = ran_lists or os.environ.get(RAN_LISTS_ENV) or PACKAGED_LISTS
    return Path(base) / relative


class ListSubset(FileDatasetAdapter):
    """The parent's test images named in a list file; one split, ``test``."""

    def __init__(self, parent: str, relative: str | None = None, *, list_path: str | os.PathLike | None = None,
                 ran_lists: str | os.PathLike | None = None, **parent_options: Any):
        if parent not in JOIN_KEYS:
            raise ValueError(f"subsets are defined over {', '.join(JOIN_KEYS)}, got parent {parent!r}")
        self.parent = get_dataset(parent, **parent_options)
        self.options_of = parent
        self.list_file = resolve_list(relative, list_path, ran_lists)
        self.target_mode = self.parent.target_mode
        self._classes = self.parent.classes
        self._splits = ("test",)

    @property
    def cache_name(self) -> str:
        """A subset is a filter over its parent's images, so it reads the parent's prepared cache."""
        return self.parent.cache_name

    @property
    def protocol(self) -> str:
        return (f"{self.options_of} test images listed in {self.list_file.name}; "
                f"parent protocol: {self.parent.protocol}")

    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        df, problems = self.parent.scanned(Path(root))
        matched, list_problems = self._match(df[df["split"] == "test"])
        return matched, problems + list_problems

    def _match(self, test: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
        entry_key, image_key = JOIN_KEYS[self.options_of]
        keys, problems = parse_list(require_file(self.list_file, f"{self.name} list"), entry_key)
        image_keys = test["image_id"].map(image_key)
        rows = dict(zip(image_keys, range(len(test))))
        matched = []
        for k, line in keys.items():
            if k not in rows:
                problems.append(Problem(str(self.list_file), f"entry {k!r} matches no {self.options_of} test image",
                                        line, "warning"))
                continue
            row = rows[k]
            matched.append(row)
            reason = test[EXCLUDED].iat[row]
            if reason:
                problems.append(Problem(str(self.list_file), f"entry {k!r}: its image is left out by the parent "
                                        f"protocol: {reason}", line, "warning"))
        subset = test.iloc[sorted(matched)].reset_index(drop=True)
        subset["subset"] = self.name
        if not matched:
            problems.append(Problem(str(self.list_file), f"no entry matches a {self.options_of} test image"))
        return subset, problems

    def index(self, root: Path) -> pd.DataFrame:
        df, problems = self.scanned(Path(root))
        raise_if_errors(problems, self.name)
        list_warnings = [p for p in problems if p.file == str(self.list_file)]
        if list_warnings:
            warnings.warn(f"{self.name}: {len(list_warnings)} list entries are duplicated, unmatched or left out "
                          f"(first: {list_warnings[0]}); the subset has {int((df[EXCLUDED] == '').sum())} images",
                          stacklevel=2)
        return df[df[EXCLUDED] == ""].drop(columns=EXCLUDED).reset_index(drop=True)


def _ran_subset(name: str, parent: str, relative: str, what: str) -> None:
    def __init__(self: ListSubset, *, list_path: str | os.PathLike | None = None,
                 ran_lists: str | os.PathLike | None = None, **parent_options: Any) -> None:
        ListSubset.__init__(self, parent, relative, list_path=list_path, ran_lists=ran_lists, **parent_options)

    cls = type(name, (ListSubset,), {"__init__": __init__, "description": f"{what} (RAN list {relative})",
                                     "__doc__": f"{what}: the RAN list {relative} over {parent}'s test split."})
    register_dataset(name)(cls)


for _name, _parent, _relative, _what in (
    ("occlusion-ferplus", "ferplus", "FERplus_dir/jianfei_occlusion_list.txt", "Occlusion-FERPlus"),
    ("pose30-ferplus", "ferplus", "FERplus_dir/pose_30_ferplus_list.txt", "Pose-FERPlus (>30 degrees)"),
    ("pose45-ferplus", "ferplus", "FERplus_dir/pose_45_ferplus_list.txt", "Pose-FERPlus (>45 degrees)"),
    ("occlusion-affectnet", "affectnet", "AffectNet_dir/occlusion_affectnet_list.txt", "Occlusion-AffectNet"),
    ("pose30-affectnet", "affectnet", "AffectNet_dir/pose_30_affectnet_list.txt", "Pose-AffectNet (>30 degrees)"),
    ("pose45-affectnet", "affectnet", "AffectNet_dir/pose_45_affectnet_list.txt", "Pose-AffectNet (>45 degrees)"),
    ("occlusion-rafdb", "rafdb", "RAF_DB_dir/rafdb_occlusion_list.txt", "Occlusion-RAF-DB"),
    ("pose30-rafdb", "rafdb", "RAF_DB_dir/val_raf_db_list.txt", "Pose-RAF-DB (>30 degrees)"),
    ("pose45-rafdb", "rafdb", "RAF_DB_dir/val_raf_db_list_45.txt", "Pose-RAF-DB (>45 degrees)"),
):
    _ran_subset(_name, _parent, _relative, _what)


@register_dataset("subset")
class UserSubset(ListSubset):
    """Your own list over a parent's test split (one entry per line, first token names the image)."""

    description = "your own list over a parent's test split; options parent=ferplus|rafdb|affectnet, list_path"

    def __init__(self, parent: str = "ferplus", *, list_path: str | os.PathLike | None = None, **parent_options: Any):
        super().__init__(parent, None, list_path=list_path, **parent_options)
