"""YAML read as plain data, with each key of a mapping given once.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word, so a suite listing ``OADN:`` twice
trained one of them under the other's settings. Shared files (suites, ablations, ``-c`` files, a run's
``config.yaml``) are read here instead: safe types only, and a repeated key is a YAML error marked at its line.
A merge key (``<<: *defaults``) still overrides as YAML says; only keys written twice are refused.
"""

from __future__ import annotations

from typing import IO, Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node


class DuplicateKeyError(ConstructorError):
    """A mapping that gives one key twice; ``problem_mark`` is the second one's place."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping holding one key twice."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            first: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.setdefault(key, key_node)
                except TypeError:  # an unhashable key: SafeLoader names it below
                    continue
                if earlier is not key_node:
                    raise DuplicateKeyError(
                        "while reading a mapping", node.start_mark,
                        f"key {key!r} given twice (first on line {earlier.start_mark.line + 1}); YAML would keep "
                        "only the last and silently drop the other: remove or rename one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    """The YAML document in ``stream`` as plain data; a key repeated in a mapping raises DuplicateKeyError."""
    return yaml.load(stream, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
