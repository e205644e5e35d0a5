"""One registry of methods: a method is a decorated constructor taking the model config, so every command
takes a method by name (the timm ``create_model`` pattern)."""

from __future__ import annotations

from typing import Callable

from oadn.config import ModelConfig
from oadn.models.base import FERModel

ModelFactory = Callable[[ModelConfig, int, int], FERModel]
_REGISTRY: dict[str, ModelFactory] = {}


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    def decorate(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return decorate


def _load_builtin_models() -> None:
    import oadn.models.baseline  # noqa: F401
    import oadn.models.oadn  # noqa: F401


def list_models() -> list[str]:
    _load_builtin_models()
    return sorted(_REGISTRY)


def create_model(config: ModelConfig, num_classes: int, image_size: int) -> FERModel:
    """Instantiate the method ``config.name`` for ``num_classes`` classes at input size ``image_size``."""
    _load_builtin_models()
    if config.name not in _REGISTRY:
        raise KeyError(f"unknown model {config.name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[config.name](config, num_classes, image_size)
