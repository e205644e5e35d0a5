"""A report folder owns only the files its reports wrote.

Reports are rendered into folders researchers choose (``--report-dir``), which may hold their own files: a
``results.md`` they edited, figures of their own. ``.oadn-report.json`` in the folder lists every file a report
wrote there; a render may replace or remove only those, refuses (naming them) to overwrite anything else, and
never deletes a file it did not write. A render is written into a temporary folder beside its target and
moved into place only when complete, so a failed render leaves the previous report as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable, Iterator

from oadn.common.files import DiskFullError, disk_full, out_of_space

#: the record of the files reports wrote in a folder (paths relative to it)
MARKER = ".oadn-report.json"
#: files only this tool writes: a folder holding one from before ownership was recorded is a report folder
LEGACY_SIGNS = ("suite.json", "ablation.json")


class ReportFolderError(ValueError):
    """A report would overwrite a file it did not write."""


def entry_problem(entry: object) -> str:
    """Why ``entry`` of a record cannot name a file a report wrote ("" when it can): only a relative path inside
    the folder, without ``..``, as a report writes it (``figures/x.png``)."""
    if not isinstance(entry, str) or not entry:
        return "not a file name"
    path = PurePosixPath(entry)
    if path.is_absolute() or PureWindowsPath(entry).is_absolute():
        return "an absolute path"
    if ".." in path.parts:
        return "goes up with '..'"
    if "\\" in entry or "\0" in entry or path.as_posix() != entry or "." in path.parts:
        return "not a plain relative path such as figures/x.png"
    return ""


def owned_files(folder: Path) -> set[str]:
    """The files reports wrote in ``folder`` (relative paths), as its record lists them. A record is shared with
    the folder, so one listing anything but relative paths inside the folder is refused, naming each entry."""
    path = Path(folder) / MARKER
    if not path.is_file():
        return set()
    try:
        files = json.loads(path.read_text())["files"]
        if not isinstance(files, list):
            raise TypeError(f"'files' is a {type(files).__name__}, not a list")
        entries = set(files)
    except (ValueError, KeyError, TypeError) as error:
        raise ReportFolderError(f"{path}: damaged record of the report's files ({error}); it lists what the "
                                f"report may replace: restore it, or render into a new folder") from None
    bad = sorted((repr(entry), problem) for entry in entries if (problem := entry_problem(entry)))
    if bad:
        listed = ", ".join(f"{entry} ({problem})" for entry, problem in bad)
        raise ReportFolderError(f"{path}: refused: it lists {listed}; a report replaces and removes only files "
                                f"inside its own folder, named by a relative path: remove those entries, or render "
                                f"into a new folder")
    return entries


def _legacy(folder: Path) -> bool:
    """A report folder written before the record existed (it holds a file only this tool writes)."""
    return not (folder / MARKER).is_file() and any((folder / name).is_file() for name in LEGACY_SIGNS)


def foreign_files(folder: Path, names: Iterable[str]) -> list[str]:
    """Those of ``names`` that exist in ``folder`` but no report wrote."""
    folder = Path(folder)
    owned = owned_files(folder)
    legacy = _legacy(folder)
    return sorted(name for name in names if (folder / name).exists() and name not in owned and not legacy)


def refuse_foreign(folder: Path, names: Iterable[str]) -> None:
    """A ReportFolderError naming every file of ``names`` in ``folder`` that a report did not write."""
    foreign = foreign_files(folder, names)
    if foreign:
        shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8 else "")
        raise ReportFolderError(
            f"{folder}: refusing to overwrite {shown}: not written by a report here (no record in {MARKER}); "
            f"move them away or choose another report folder"
        )


def _record(folder: Path, files: Iterable[str]) -> None:
    path = Path(folder) / MARKER
    tmp = path.with_name(f".{MARKER}.tmp")
    tmp.write_text(json.dumps({"files": sorted(set(files))}, indent=2) + "\n")
    os.replace(tmp, path)


def claim(folder: Path, names: Iterable[str]) -> None:
    """Record ``names`` as the report's (after :func:`refuse_foreign` said they are free)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _record(folder, owned_files(folder) | set(names))


def _files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@contextmanager
def staged(folder: Path, keep: Iterable[str] = ()) -> Iterator[Path]:
    """A temporary folder to render into; on success its files replace the report's previous ones in ``folder``
    (those not rendered again are removed, except ``keep``: the report's inputs), on failure it is removed and
    ``folder`` is untouched."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".render-"))
    try:
        try:
            yield staging
        except Exception as error:
            if not out_of_space(error):
                raise
            where = error.path if isinstance(error, DiskFullError) and error.path else Path()
            named = f" ({where.relative_to(staging)})" if where.is_relative_to(staging) else ""
            raise disk_full(folder, f"the report{named}", "the previous report is intact") from None
        publish(staging, folder, keep)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _outside(folder: Path, names: Iterable[str]) -> list[str]:
    """Those of ``names`` that are, once links are followed, not a plain file inside ``folder`` (a folder on
    their way may be a link to elsewhere), or that exist as something other than a plain file."""
    inside = Path(folder).resolve()
    out = []
    for name in names:
        target = Path(folder) / name
        if not target.parent.resolve().is_relative_to(inside):
            out.append(f"{name} (a folder on its way leads out of {folder})")
        elif target.is_symlink() or (target.exists() and not target.is_file()):
            out.append(f"{name} (not a plain file)")
    return out


def publish(staging: Path, folder: Path, keep: Iterable[str] = ()) -> list[str]:
    """Move every file under ``staging`` into ``folder``, refusing to overwrite files no report wrote; remove
    the report's own files that this render did not write again (plain files inside ``folder`` only: anything
    else is refused before a file is touched); record the result."""
    new = _files_under(staging)
    refuse_foreign(folder, new)
    keep = set(keep)
    previous = owned_files(folder) | ({n for n in new + sorted(keep) if (folder / n).is_file()} if _legacy(folder)
                                      else set())
    stale = sorted(previous - set(new) - keep)
    refused = _outside(folder, stale + new)
    if refused:
        raise ReportFolderError(f"{folder / MARKER}: refused: {', '.join(refused)}; a report replaces and removes "
                                f"only plain files inside its own folder: render into a new folder")
    for name in stale:
        (folder / name).unlink(missing_ok=True)
    for name in new:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, folder / name)
    _record(folder, set(new) | (previous & keep))
    return new
