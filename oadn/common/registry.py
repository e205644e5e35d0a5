"""One registry style for every kind of named entry (data sets, landmark backends, backbones, methods,
executors, score modes, report metrics): a decorator fills it, and the registry imports none of its entries.

A registry is told the module whose import registers its built-in entries (``builtins=``, e.g.
``oadn.models.builtin``) and imports it at the first lookup, not before: ``oadn-bench --help`` then loads no
model, data set or torch at all, and a lookup still sees every built-in entry. Other code (plugins) registers
more with the same decorator.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names of one ``kind`` of thing (e.g. "data set") mapped to what was registered under them; with
    ``name_attribute``, each entry is also told its name (``entry.name = "ferplus"``); with ``builtins``, the
    module registering the built-in entries is imported at the first lookup (a name registered twice, by a
    plugin and a built-in entry, is refused then)."""

    def __init__(self, kind: str, name_attribute: str | None = None, builtins: str | None = None):
        self.kind = kind
        self.name_attribute = name_attribute
        self._builtins = builtins
        self._entries: dict[str, T] = {}

    @property
    def entries(self) -> dict[str, T]:
        """Every entry by name, the built-in ones imported first."""
        if self._builtins is not None:
            module, self._builtins = self._builtins, None  # cleared first: the import looks entries up too
            try:
                import_module(module)
            except BaseException:
                self._builtins = module
                raise
        return self._entries

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding its target under ``name``; a second entry of the same name is an error."""

        def decorate(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice: first by {_label(self._entries[name])}, "
                                 f"again by {_label(entry)}")
            if self.name_attribute is not None:
                setattr(entry, self.name_attribute, name)
            self._entries[name] = entry
            return entry

        return decorate

    def get(self, name: str) -> T:
        """The entry registered as ``name``; a KeyError naming every registered one otherwise."""
        if name not in self.entries:
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _label(entry: object) -> str:
    """Where an entry was registered from: its module and name, and its source file and line when known (two
    plugins that claim one name must both be findable)."""
    name = getattr(entry, "__qualname__", None) or type(entry).__name__
    module = getattr(entry, "__module__", None)
    try:
        place = f" at {inspect.getsourcefile(entry)}:{inspect.getsourcelines(entry)[1]}"  # type: ignore[arg-type]
    except (TypeError, OSError):
        place = ""
    return f"{module}.{name}{place}" if module else f"{name}{place}"
