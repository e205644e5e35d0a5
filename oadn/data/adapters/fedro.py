"""FED-RO: real occluded faces for testing (Li et al., ACNN), one folder per class.

The publisher lists 400 images over 7 classes; many source URLs are dead, so a downloaded copy usually holds
about 381: ``check`` reports what was found against the published 400. Folder names are matched to canonical
classes case-insensitively, with the published spelling ``neural`` and the synonyms the ``folder`` data set
accepts (``angry``, ``happy``, ...; :data:`oadn.data.labels.SYNONYMS`). Protocol: a test set only; train on RAF-DB +
AffectNet jointly (``rafdb+affectnet``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from oadn.data.adapters.common import EXCLUDED, FileDatasetAdapter, frame, require_dir
from oadn.data.images import image_extensions
from oadn.data.labels import BASIC_CLASSES, canonical_class
from oadn.data.on_disk import Problem
from oadn.data.registry import register_dataset

PUBLISHED_IMAGES = 400


@register_dataset("fedro")
class FEDRO(FileDatasetAdapter):
    """FED-RO, 7 classes, test split only."""

    description = "FED-RO occluded faces, 7 classes, test only (400 published); train on rafdb+affectnet"

    def __init__(self) -> None:
        self._classes = BASIC_CLASSES
        self._splits = ("test",)

    @property
    def protocol(self) -> str:
        return "7 classes, test = every image in the class folders (400 published); train on rafdb+affectnet"

    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        require_dir(Path(root), "FED-RO root with one folder per class")
        columns: dict[str, list] = {k: [] for k in ("image_id", "path", "split", "label", EXCLUDED)}
        problems: list[Problem] = []
        found: dict[str, Path] = {}
        for entry in sorted(root.iterdir()):
            if not entry.is_dir():
                continue
            cls = canonical_class(entry.name)
            if cls not in BASIC_CLASSES:
                problems.append(Problem(str(entry), "unknown class folder (expected one of "
                                                    f"{', '.join(BASIC_CLASSES)}, "
                                                    "or a synonym such as happy, angry or the published neural)"))
            elif cls in found:
                problems.append(Problem(str(entry), f"second folder for {cls} (first: {found[cls].name})"))
            else:
                found[cls] = entry
        suffixes = image_extensions()
        for cls in BASIC_CLASSES:
            if cls not in found:
                problems.append(Problem(str(root), f"missing class folder for {cls} (expected e.g. {root / cls})"))
                continue
            for file in sorted(found[cls].iterdir()):
                if file.suffix.lower() not in suffixes:
                    problems.append(Problem(str(file), "not an image file name; ignored", None, "warning"))
                    continue
                columns["image_id"].append(f"{found[cls].name}/{file.name}")
                columns["path"].append(str(file.absolute()))
                columns["split"].append("test")
                columns["label"].append(BASIC_CLASSES.index(cls))
                columns[EXCLUDED].append("")
        df = frame(columns)
        df["aligned"] = False
        return df, problems

    def check_counts(self, usable: pd.DataFrame, root: Path) -> list[Problem]:
        if len(usable) == PUBLISHED_IMAGES:
            return []
        return [Problem(str(root), f"found {len(usable)} usable images of the {PUBLISHED_IMAGES} published "
                        "(about 381 are downloadable); results are over the images found", None, "warning")]
