"""What every file-backed adapter shares: scan -> index/check, image verification, counts.

An adapter implements one method, :meth:`FileDatasetAdapter.scan`, which parses the copy's text files (never
its images) into every sample it found plus the problems met on the way. ``index`` keeps the samples the
protocol uses and refuses a copy whose label files are malformed (a silently shorter training set is worse than
an error; ``datasets check`` lists every bad line). ``check`` adds per-image checks on top of the same scan.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from PIL import Image

from oadn.data.faces import BadImageError
from oadn.data.images import ImageDecodeError, decode_rgb
from oadn.data.on_disk import SCANS, CheckReport, OnDiskDatasetAdapter, Problem

#: column a scan adds: "" for a sample the protocol uses, else why the protocol leaves it out
EXCLUDED = "excluded"
#: progress callback: (images done, images in all)
Progress = Callable[[int, int], None]
#: how many problems an ``index`` error message quotes before saying "and N more"
_QUOTED = 5


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a directory, else FileNotFoundError saying what was expected there."""
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: missing directory ({what})")
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else FileNotFoundError saying what was expected there."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing file ({what})")
    return path


def outside_root(base: Path, relative: str) -> str:
    """Why ``relative``, a path read from a data file, does not name a file inside ``base`` (the data set's root,
    or the folder under it that the file names images in) ("" when it does): absolute, or going up out of it with
    ``..``. A label file travels with a copy, and what it names is read, prepared and packed into a shareable
    file, so it may name nothing outside. The test is on the path as written: links the user placed inside the
    root are the user's own choice."""
    if os.path.isabs(relative):
        return f"{relative!r} is an absolute path; expected a path relative to {base}"
    if ".." not in relative:  # the common case, without normalising (AffectNet lists 300k paths)
        return ""
    inside = os.path.abspath(base)
    if os.path.commonpath([os.path.normpath(os.path.join(inside, relative)), inside]) != inside:
        return f"{relative!r} leads out of {base} (with '..'); expected a path inside the data set's root"
    return ""


def read_lines(path: Path) -> list[str]:
    """Lines of a text file without their ends (LF or CRLF); undecodable bytes are kept as U+FFFD."""
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def load_image(path: str | Path, image_id: str) -> Image.Image:
    """Fully decode one image as 8-bit RGB, raising :class:`BadImageError` when it is missing, truncated, too
    large or in a pixel mode that cannot be converted (see :mod:`oadn.data.images`)."""
    try:
        return Image.fromarray(decode_rgb(path))
    except ImageDecodeError as error:
        raise BadImageError(image_id, str(path), error.reason) from None


def _image_problem(path: str, image_id: str, decode: bool) -> str | None:
    if not decode:
        return None if os.path.isfile(path) else "file not found"
    try:
        load_image(path, image_id)
    except BadImageError as error:
        return error.reason
    return None


def check_images(
    paths: Iterable[str],
    image_ids: Iterable[str],
    *,
    decode: bool,
    progress: Progress | None = None,
) -> list[str | None]:
    """Per image: None when usable, else why not. ``decode`` False only tests that each file exists.

    Decoding runs on a thread pool (PIL releases the GIL while decoding); ``progress(done, total)`` is called
    as images finish, for a progress bar.
    """
    jobs = list(zip(paths, image_ids))
    workers = min(8, (os.cpu_count() or 1) * 2)
    results: list[str | None] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for reason in pool.map(lambda job: _image_problem(job[0], job[1], decode), jobs):
            results.append(reason)
            if progress is not None and (len(results) % 256 == 0 or len(results) == len(jobs)):
                progress(len(results), len(jobs))
    return results


def counts_table(df: pd.DataFrame, splits: tuple[str, ...], classes: tuple[str, ...]) -> pd.DataFrame:
    """Image counts: one row per split (in protocol order), one column per class name, plus ``total``."""
    table = pd.DataFrame(0, index=pd.Index(splits, name="split"), columns=list(classes), dtype=np.int64)
    if len(df):
        grouped = df.groupby(["split", "label"]).size()
        for (split, label), n in grouped.items():
            table.loc[split, classes[int(label)]] = int(n)
    table["total"] = table.sum(axis=1)
    return table


def raise_if_errors(problems: list[Problem], dataset: str) -> None:
    """ValueError quoting the first error problems (file:line), for ``index`` on a malformed copy."""
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    quoted = "\n  ".join(str(p) for p in errors[:_QUOTED])
    more = f"\n  ... and {len(errors) - _QUOTED} more" if len(errors) > _QUOTED else ""
    raise ValueError(
        f"{dataset}: {len(errors)} problem(s) in the label files:\n  {quoted}{more}\n"
        f"run `oadn-bench datasets check {dataset} --root ...` for the full list"
    )


class FileDatasetAdapter(OnDiskDatasetAdapter):
    """An on-disk adapter defined by its :meth:`scan`; ``index`` and ``check`` follow from it."""

    _classes: tuple[str, ...]
    _splits: tuple[str, ...]

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def splits(self) -> tuple[str, ...]:
        return self._splits

    @abstractmethod
    def scan(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        """Every sample the label files name (index columns + ``excluded``) and the problems found.

        Raises FileNotFoundError (naming the path) when a file or directory the protocol needs is missing.
        Opens no image.
        """

    def scanned(self, root: Path) -> tuple[pd.DataFrame, list[Problem]]:
        """:meth:`scan` of ``root``; inside :func:`parsed_once`, the first scan's result again."""
        memo = SCANS.get()
        if memo is None:
            return self.scan(Path(root))
        key = (id(self), str(Path(root).resolve()))
        if key not in memo:
            memo[key] = (self, self.scan(Path(root)))  # the adapter is kept: its id stays its own
        df, problems = memo[key][1]
        return df, list(problems)

    def index(self, root: Path) -> pd.DataFrame:
        df, problems = self.scanned(Path(root))
        raise_if_errors(problems, self.name)
        return df[df[EXCLUDED] == ""].drop(columns=EXCLUDED).reset_index(drop=True)

    def preparation_index(self, root: Path) -> pd.DataFrame:
        """Every image the label files name, including those this protocol's label rule leaves out, so that
        one prepared cache serves all label modes (FERPlus majority, plurality, probability, ...)."""
        df, problems = self.scanned(Path(root))
        raise_if_errors(problems, self.name)
        return df.drop(columns=EXCLUDED).reset_index(drop=True)

    def check(
        self,
        root: Path,
        *,
        verify_images: bool = True,
        progress: Progress | None = None,
    ) -> CheckReport:
        """Scan problems, then each used image: missing always, undecodable too when ``verify_images``.

        Counts are over the samples the protocol uses whose image was found (and decoded, when verified).
        """
        try:
            df, problems = self.scanned(Path(root))
        except FileNotFoundError as error:
            missing = Problem(file=str(error.filename or root), message=str(error))
            return CheckReport(self.name, str(root), counts_table(_empty(), self.splits, self.classes), [missing])
        used = df[df[EXCLUDED] == ""]
        reasons = check_images(used["path"], used["image_id"], decode=verify_images, progress=progress)
        ok = np.array([r is None for r in reasons], dtype=bool)
        for path, reason in zip(used["path"], reasons):  # skipped by prepare and training: the rest stays usable
            if reason is not None:
                problems.append(Problem(file=path, message=f"unusable image: {reason}", severity="warning",
                                        kind="unusable image (prepare and training skip it)"))
        usable = used[ok] if len(used) else used
        problems.extend(self.check_counts(usable, Path(root)))
        if len(usable) == 0 and not any(p.severity == "error" for p in problems):
            problems.append(Problem(str(root), "no usable image in any split"))
        elif len(usable):
            present = set(usable["split"])
            problems.extend(Problem(str(root), f"split {split!r} has no usable image", severity="warning",
                                    kind="a split without usable images") for split in self.splits
                            if split not in present)
        counts = counts_table(usable, self.splits, self.classes)
        return CheckReport(self.name, str(root), counts, problems)

    def check_counts(self, usable: pd.DataFrame, root: Path) -> list[Problem]:
        """Warnings where the usable counts differ from what the protocol publishes (none by default)."""
        return []


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"image_id": [], "path": [], "split": [], "label": []})


def frame(columns: dict[str, object]) -> pd.DataFrame:
    """A scan DataFrame with the index dtypes (label int64; ``excluded`` str)."""
    df = pd.DataFrame(columns)
    df["label"] = df["label"].astype(np.int64)
    return df
