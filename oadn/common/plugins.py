"""Plugins: Python modules that register methods, backbones, data sets or landmark backends with the project's
own decorators, so a user's method runs under every command without forking the project.

Two ways in, both ordinary Python imports: an installed distribution's entry points (one group per registry,
:data:`ENTRY_POINT_GROUPS`; each entry names a module, which registers on import), and ``--plugin MODULE`` (an
importable module name, or a path to a ``.py`` file) on the commands that build models or data sets, or a
suite file's ``plugins:`` list, which runs only with the user's consent on the command line (a suite file is
shared like data, and importing a module runs its code: ``run --allow-plugins``). The command line calls
:func:`load_plugins` before it looks anything up; this module knows no registry, so it sits at the bottom of the
stack.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Iterable

#: entry-point groups, one per registry a plugin can add to (``[project.entry-points."oadn_bench.models"]``)
ENTRY_POINT_GROUPS = ("oadn_bench.models", "oadn_bench.backbones", "oadn_bench.datasets",
                      "oadn_bench.landmark_backends", "oadn_bench.executors")
PLUGIN_HELP = ("A plugin that registers methods, backbones, data sets or landmark backends: a module name or a "
               ".py file (repeatable; installed entry points load by themselves).")


class PluginError(RuntimeError):
    """A plugin that could not be imported; the message names the plugin and its exception."""


def _module_name_for(path: Path) -> str:
    """A stable, unique module name for a plugin file (two files named plugin.py must not collide)."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    return f"oadn_plugin_{path.stem.replace('-', '_')}_{digest}"


def _import_file(path: Path) -> ModuleType:
    name = _module_name_for(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # a half-run module must not look loaded next time
        raise
    return module


def plugin_name(spec: str, relative_to: Path | None = None) -> str:
    """What ``spec`` loads, without loading it: a ``.py`` file's absolute path (a relative one read against
    ``relative_to``, else the working directory), else the module name itself."""
    if not spec.endswith(".py"):
        return spec
    path = Path(spec).expanduser()
    if not path.is_absolute() and relative_to is not None:
        path = Path(relative_to) / path
    return str(path.resolve())


def load_plugin(spec: str, relative_to: Path | None = None) -> str:
    """Import one plugin: a ``.py`` file (relative paths against ``relative_to``, else the working directory)
    or a module name; what another process needs to load the same one (:func:`plugin_name`). Importing it
    twice is a no-op, as for any Python module (``sys.modules`` remembers it)."""
    try:
        name = plugin_name(spec, relative_to)
        if not spec.endswith(".py"):
            importlib.import_module(name)
            return name
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        _import_file(path)
        return name
    except Exception as error:
        raise PluginError(f"plugin {spec!r} failed to load: {type(error).__name__}: {error}") from error


def load_entry_points(groups: Iterable[str] = ENTRY_POINT_GROUPS) -> list[str]:
    """Import every installed plugin of ``groups``; the names of the entry points, as ``group:name``."""
    names = []
    for group in groups:
        for point in entry_points(group=group):
            label = f"{group}:{point.name} ({point.value})"
            try:
                point.load()
            except Exception as error:
                raise PluginError(f"plugin entry point {label} failed to load: {type(error).__name__}: "
                                  f"{error}") from error
            names.append(label)
    return names


def load_plugins(specs: Iterable[str] = (), relative_to: Path | None = None) -> list[str]:
    """The installed entry points, then each ``--plugin`` / ``plugins:`` entry; the entries as another process
    would name them (:func:`load_plugin`), so a SLURM job can load the same ones."""
    load_entry_points()
    return [load_plugin(spec, relative_to) for spec in specs]

