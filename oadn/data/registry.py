"""One registry mapping a data set name to its adapter, so every command takes a name.

An adapter is a class deriving from :class:`DatasetAdapter`, registered with ``@register_dataset("name")``.
Constructor keyword arguments are the data set's protocol options (label mode, number of classes, ...). The
registry knows none of its entries: importing :mod:`oadn.data` registers the built-in ones.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

from oadn.common.registry import Registry
from oadn.data.faces import FaceSource


class DatasetAdapter(ABC):
    """A data set under one protocol: its class space, its splits, and how to open a split as faces."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: whether the data set needs a user-supplied copy on disk (``--root``); the synthetic one does not
    needs_root: ClassVar[bool] = True

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
DATASETS: Registry[type[DatasetAdapter]] = Registry("data set", name_attribute="name")


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
