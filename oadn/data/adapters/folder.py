"""A user's own labelled faces: one subfolder per class, any image format Pillow reads (TIFF, 16-bit included).

Layouts (option ``layout``):
- ``flat`` (default): ``ROOT/<class>/<image>``; the one split ``test`` is every image, so the set serves as an
  extra test set for a model trained elsewhere;
- ``splits``: ``ROOT/<split>/<class>/<image>`` with split folders ``train``, ``val`` and/or ``test``.

Folder names map to canonical classes by name or common synonym, in any case (happy -> happiness, angry ->
anger, sad -> sadness, neural -> neutral, surprised -> surprise, fearful/afraid/scared -> fear, disgusted ->
disgust, ...). An unknown folder name is an error naming the folder and the accepted names, never a silent skip.

Labels index into the classes whose folders the copy holds (a CK+-style set with seven folders, contempt and no
neutral, is a 7-class set, so cross-data-set scoring restricts to those seven), in canonical order; the option
``classes`` names them explicitly (e.g. ``classes=happy,sad,neutral``, or ``8`` for all) and then wins, pinning
the label indices whatever a copy holds. Faces are detected and aligned by ``prepare`` unless ``aligned=true``
says they are already aligned crops. Hidden files and files without an image extension are ignored (``check``
lists them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from oadn.data.adapters.common import EXCLUDED, FileDatasetAdapter, frame, require_dir
from oadn.data.images import image_extensions
from oadn.data.labels import CANONICAL_CLASSES, canonical_class
from oadn.data.on_disk import Problem
from oadn.data.registry import register_dataset

LAYOUTS = ("flat", "splits")
SPLIT_FOLDERS = ("train", "val", "test")
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _parse_classes(classes: str | Sequence[str] | int | None) -> tuple[str, ...]:
    if classes is None or str(classes).strip() in ("", "8", "all"):  # None: all, until a root says which
        return CANONICAL_CLASSES
    if str(classes).strip() == "7":
        return CANONICAL_CLASSES[:7]
    names = [c for c in (classes.split(",") if isinstance(classes, str) else classes) if str(c).strip()]
    mapped = set()
    for name in names:
        canonical = canonical_class(str(name))
        if canonical is None:
            raise ValueError(f"folder: classes option names {name!r}, not an expression; expected names such as "
                             f"{', '.join(CANONICAL_CLASSES)} (or synonyms like happy, angry, sad)")
        mapped.add(canonical)
    return tuple(c for c in CANONICAL_CLASSES if c in mapped)


def _parse_bool(value: bool | str, option: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        raise ValueError(f"folder: option {option} must be true or false, got {value!r}")
    return text in _TRUE


@register_dataset("folder")
class FolderDataset(FileDatasetAdapter):
    """Class-per-folder images of any format: a user's own test (or train/test) set."""

    description = ("your own faces: ROOT/<class>/<image> (split test = all) or ROOT/<split>/<class>/<image>; "
                   "folder names mapped to canonical classes by name or synonym")

    def __init__(self, layout: str = "flat", classes: str | Sequence[str] | None = None, aligned: bool | str = False):
        if layout not in LAYOUTS:
            raise ValueError(f"folder: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        self.layout = layout
        self.aligned = _parse_bool(aligned, "aligned")
        self._classes = _parse_classes(classes)
        self._explicit_classes = classes is not None
        self._splits = ("test",) if layout == "flat" else SPLIT_FOLDERS

    def at_root(self, root: Path | str | None) -> "FolderDataset":
        """This protocol with the classes whose folders the copy at ``root`` holds, unless ``classes`` was given."""
        if self._explicit_classes or root is None or not Path(root).is_dir():
            return self
        problems: list[Problem] = []
        present = {canonical_class(folder.name) for _, split_dir in self._split_dirs(Path(root), problems)
                   for folder in split_dir.iterdir() if folder.is_dir() and not folder.name.startswith(".")}
        found = tuple(c for c in CANONICAL_CLASSES if c in present)
        if not found:
            return self  # nothing to go by: scanning names the problem
        return FolderDataset(self.layout, classes=",".join(found), aligned=self.aligned)

    @property
    def protocol(self) -> str:
        splits = "test = every image" if self.layout == "flat" else "train/val/test = the split folders present"
        return f"{len(self._classes)} classes ({', '.join(self._classes)}), layout {self.layout}: {splits}"

    def _split_dirs(self, root: Path, problems: list[Problem]) -> list[tuple[str, Path]]:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if self.layout == "flat":
            looks_split = [p.name for p in folders if p.name.lower() in SPLIT_FOLDERS]
            if looks_split and len(looks_split) == len(folders):
                problems.append(Problem(str(root), f"holds split folders ({', '.join(looks_split)}), not class "
                                        "folders; pass the option layout=splits"))
                return []
            return [("test", root)]
        for other in (p for p in folders if p.name.lower() not in SPLIT_FOLDERS):
            problems.append(Problem(str(other), "unexpected folder for layout=splits "
                                    f"(expected {', '.join(SPLIT_FOLDERS)})"))
        found = [(p.name.lower(), p) for p in folders if p.name.lower() in SPLIT_FOLDERS]
        if not found:
            problems.append(Problem(str(root), f"no {'/'.join(SPLIT_FOLDERS)} folder (layout=splits)"))
        return found

    def _class_dirs(self, split_dir: Path, problems: list[Problem]) -> list[tuple[str, Path]]:
        dirs = []
        for folder in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            canonical = canonical_class(folder.name)
            if canonical is None:
                problems.append(Problem(str(folder), f"folder name {folder.name!r} is not an expression class; rename "
                                        f"it to one of {', '.join(CANONICAL_CLASSES)} (synonyms such as happy, angry, "
                                        "sad, surprised, fearful, disgusted are accepted)"))
            elif canonical not in self._classes:
                problems.append(Problem(str(folder), f"class {canonical!r} is not among this protocol's classes "
                                        f"({', '.join(self._classes)}); widen the classes option or move the folder"))
            else:
                dirs.append((canonical, folder))
        if not dirs and not problems:
            problems.append(Problem(str(split_dir), "no class folder (expected e.g. happy/, sad/, neutral/)"))
        return dirs

    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        root = require_dir(Path(root), "class folders of images")
        extensions = image_extensions()
        columns: dict[str, list[Any]] = {k: [] for k in ("image_id", "path", "split", "label", EXCLUDED)}
        problems: list[Problem] = []
        for split, split_dir in self._split_dirs(root, problems):
            for canonical, folder in self._class_dirs(split_dir, problems):
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    if path.name.startswith("."):
                        continue
                    if path.suffix.lower() not in extensions:
                        problems.append(Problem(str(path), "not an image file (extension unknown to Pillow); ignored",
                                                None, "warning"))
                        continue
                    columns["image_id"].append(path.relative_to(root).as_posix())
                    columns["path"].append(str(path.absolute()))
                    columns["split"].append(split)
                    columns["label"].append(self._classes.index(canonical))
                    columns[EXCLUDED].append("")
        df = frame(columns)
        df["aligned"] = self.aligned
        return df, problems

    def check_counts(self, usable: pd.DataFrame, root: Path) -> list[Problem]:
        if len(usable) == 0:
            return [Problem(str(root), "no usable image in any class folder")]
        return []
