"""The registries of methods and backbones: every command takes a method (``model.name``) and a backbone
(``model.backbone``) by name, the timm ``create_model`` pattern. They import none of their entries: the first
lookup imports :mod:`oadn.models.builtin`, which registers the built-in ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from oadn.common.registry import Registry
from oadn.config import ModelConfig

if TYPE_CHECKING:
    from oadn.models.backbones import Backbone
    from oadn.models.base import FERModel

#: methods by name; each entry is a FERModel class built as ``cls(config, num_classes, image_size)``
MODELS: Registry[type[FERModel]] = Registry("model", builtins="oadn.models.builtin")
#: backbones by name; each entry builds one from a timm pretrained tag (None: random weights)
BACKBONES: Registry[Callable[[str | None], Backbone]] = Registry("backbone", builtins="oadn.models.builtin")
register_model = MODELS.register
register_backbone = BACKBONES.register


def list_models() -> list[str]:
    return MODELS.names()


def model_class(name: str) -> type[FERModel]:
    """The method registered as ``name`` (to ask what it needs without building it)."""
    return MODELS.get(name)


def create_model(config: ModelConfig, num_classes: int, image_size: int) -> FERModel:
    """Instantiate the method ``config.name`` for ``num_classes`` classes at input size ``image_size``."""
    return MODELS.get(config.name)(config, num_classes, image_size)
