"""The registries of methods and backbones: every command takes a method (``model.name``) and a backbone
(``model.backbone``) by name, the timm ``create_model`` pattern. They import none of their entries: the first
lookup imports :mod:`oadn.models.builtin`, which registers the built-in ones."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from oadn.common.registry import Registry
from oadn.config import MODELS, OPTION_ROLES, ModelConfig, check_options

if TYPE_CHECKING:
    from oadn.models.backbones import Backbone
    from oadn.models.base import FERModel

#: methods by name (:data:`oadn.config.MODELS`, where configurations are checked against their options); each entry
#: is a FERModel class built as ``cls(config, num_classes, image_size)``
#: backbones by name; each entry builds one from a timm pretrained tag (None: random weights)
BACKBONES: Registry[Callable[[str | None], Backbone]] = Registry("backbone", builtins="oadn.models.builtin")
register_backbone = BACKBONES.register


def register_model(name: str) -> Callable[[type[FERModel]], type[FERModel]]:
    """Class decorator adding a method under ``name``; its ``Options`` dataclass (what ``model.KEY`` it takes, typed,
    with ranges: :class:`oadn.config.NoOptions` when it declares none) may hold weights and test-time roles only."""

    def decorate(cls: type[FERModel]) -> type[FERModel]:
        roles = {item.name: item.metadata.get("role", "weights") for item in dataclasses.fields(cls.Options)}
        wrong = {key: kind for key, kind in roles.items() if kind not in OPTION_ROLES}
        if wrong:
            raise ValueError(f"method {name!r}: options {wrong} have roles a method option cannot have; "
                             f"expected one of {', '.join(OPTION_ROLES)}")
        return MODELS.register(name)(cls)

    return decorate


def list_models() -> list[str]:
    return MODELS.names()


def model_class(name: str) -> type[FERModel]:
    """The method registered as ``name`` (to ask what it needs without building it)."""
    return MODELS.get(name)


def create_model(config: ModelConfig, num_classes: int, image_size: int) -> FERModel:
    """Instantiate the method ``config.name`` for ``num_classes`` classes at input size ``image_size``; its options
    are checked first (a ConfigError names each one out of range)."""
    cls = MODELS.get(config.name)
    check_options(config)
    return cls(config, num_classes, image_size)
