"""One registry mapping a data set name to its adapter, so every command takes a name.

An adapter is a class deriving from :class:`DatasetAdapter`, registered with ``@register_dataset("name")``.
Constructor keyword arguments are the data set's protocol options (label mode, number of classes, ...). The
registry imports none of its entries: its first lookup imports :mod:`oadn.data.adapters`, which registers the
built-in ones.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from oadn.common.registry import Registry
from oadn.config import ConfigError

if TYPE_CHECKING:  # the registry stays light: the command line imports it for --help
    from oadn.data.faces import FaceSource


class DatasetAdapter(ABC):
    """A data set under one protocol: its class space, its splits, and how to open a split as faces.

    What the engine and the commands ask of a data set is declared here, with defaults, and an adapter states
    what differs (never found out by ``hasattr``/``getattr`` or by importing a concrete adapter)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: whether the data set needs a user-supplied copy on disk (``--root``); the synthetic one does not
    needs_root: ClassVar[bool] = True
    #: whether the data set is itself a copy on disk that ``datasets check`` checks and ``prepare`` aligns into a
    #: cache (its files indexed with labels); a wrapper of such a copy (``occluded``) and generated data are not
    checkable: ClassVar[bool] = False
    #: how training uses a face's soft target: "hard" (its label), "soft" (cross-entropy against the target) or
    #: "sample" (a one-hot label drawn from it each time the face is seen); see oadn.engine.loader.TARGET_MODES
    target_mode: str = "hard"
    #: the data set whose protocol options this one passes on besides its own (a subset: its parent's; occluded:
    #: its base's), for ``datasets list``; None when it takes only its own
    options_of: str | None = None

    @property
    def cache_name(self) -> str:
        """Name under which the prepared cache of this data's faces is stored; a view over another data set (a
        subset, occluded faces) reads that data set's cache."""
        return self.name

    def unoccluded(self) -> "DatasetAdapter | None":
        """The same faces without the occluders this data set pastes on them (``occluded``: its base), to measure
        what pasting costs; None when it pastes none."""
        return None

    def split_option_names(self) -> set[str] | None:
        """The keys ``data.split_options`` may hold (what :meth:`open_split` takes besides split, root and
        image_size); None when it passes any on and cannot say."""
        parameters = inspect.signature(self.open_split).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            return None
        return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {
            "split", "root", "image_size"}

    @property
    @abstractmethod
    def classes(self) -> tuple[str, ...]:
        """Canonical class names of this protocol (``oadn.data.labels.class_space(7 or 8)``)."""

    @property
    @abstractmethod
    def splits(self) -> tuple[str, ...]:
        """Names of the splits this protocol defines, e.g. ("train", "test")."""

    @property
    def protocol(self) -> str:
        """One line saying how the protocol is defined (shown by ``datasets list``)."""
        return self.description

    @abstractmethod
    def open_split(self, split: str, *, root: Path | None, image_size: int, **options: Any) -> FaceSource:
        """Open ``split`` as a :class:`FaceSource` of aligned faces at ``image_size``."""

    def at_root(self, root: Path | str | None) -> "DatasetAdapter":
        """The adapter for the copy at ``root``: itself, unless its protocol depends on what the copy holds (the
        ``folder`` data set takes its classes from the class folders present)."""
        return self

    def training_problem(self) -> str | None:
        """Why a run may not train on this protocol (a test-only transform), or None when it may."""
        return None

    def split_size(self, split: str, indexed: int) -> int:
        """How many faces :meth:`open_split` gives of a split whose index lists ``indexed``: the same, unless the
        protocol keeps a share of them (so a suite's plan counts what a run will read)."""
        return indexed


A = TypeVar("A", bound=DatasetAdapter)
#: data sets by name; each entry is a DatasetAdapter class (built-ins: :mod:`oadn.data.adapters`)
DATASETS: Registry[type[DatasetAdapter]] = Registry("data set", name_attribute="name", builtins="oadn.data.adapters")


def register_dataset(name: str) -> Callable[[type[A]], type[A]]:
    """Class decorator adding an adapter to the registry under ``name`` (its ``name`` attribute is set to it)."""
    return DATASETS.register(name)


def list_datasets() -> list[str]:
    """Registered data set names, sorted."""
    return DATASETS.names()


def get_dataset(name: str, **options: Any) -> DatasetAdapter:
    """Instantiate the adapter registered as ``name`` with protocol ``options``."""
    return DATASETS.get(name)(**options)


def option_names(name: str) -> tuple[list[str], bool]:
    """Data set ``name``'s protocol options as its adapter declares them (keyword arguments, in order), and whether
    it takes any other option too (``**kwargs``, passed on to a wrapped data set)."""
    parameters = list(inspect.signature(DATASETS.get(name).__init__).parameters.values())[1:]  # after self
    named = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return named, any(p.kind is p.VAR_KEYWORD for p in parameters)


def open_dataset(name: str, options: dict[str, Any], name_key: str = "NAME",
                 options_key: str = "--option") -> DatasetAdapter:
    """The adapter ``name`` under protocol ``options``; an unknown name, an option it does not take or a value it
    refuses is a ConfigError naming the key (``name_key``: ``config.data.name``; ``options_key``:
    ``config.data.options``, ``--option``) and what is valid."""
    if name not in DATASETS:
        raise ConfigError(f"{name_key} = {name!r}: unknown data set; registered: {', '.join(list_datasets())}")
    valid, takes_any = option_names(name)
    unknown = [] if takes_any else sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"{options_key}: {name} has no option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(valid)) or 'none'}")
    try:
        return get_dataset(name, **options)
    except (KeyError, TypeError, ValueError) as error:  # a value the protocol refuses, named by the adapter
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        raise ConfigError(f"{options_key}: {message}") from error
