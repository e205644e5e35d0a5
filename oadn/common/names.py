"""Names that become path components (suite names, experiment ids, methods, columns, run names).

They come from files researchers share, so each is checked before any work: no path separator, not ``.`` or
``..``, not empty, and short enough that the longest file name built from three of them (a confusion-matrix
figure: experiment, column and method) stays under the 255 bytes most file systems allow.
"""

from __future__ import annotations

#: UTF-8 bytes one name may take
MAX_NAME_BYTES = 64


def name_problem(value: object) -> str:
    """What is wrong with ``value`` as one path component ("" when nothing is)."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value.strip():
        return "expected a non-empty name"
    if "/" in value or "\\" in value:
        return "expected a name without '/' or '\\' (it becomes a folder or file name)"
    if value in (".", ".."):
        return f"{value!r} is not a name (it would point at another folder)"
    if "\0" in value:
        return "expected a name without NUL characters"
    size = len(value.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"expected at most {MAX_NAME_BYTES} bytes, got {size} (it becomes part of a file name)"
    return ""


def relative_path_problem(value: object) -> str:
    """What is wrong with ``value`` as a relative path of names joined by '/' ("" when nothing is)."""
    if not isinstance(value, str) or not value:
        return name_problem(value)
    if value.startswith("/"):
        return "expected a relative name, not an absolute path"
    for part in value.split("/"):
        problem = name_problem(part)
        if problem:
            return f"component {part!r}: {problem}"
    return ""
