"""The ``models`` command: what methods and backbones are registered."""

from __future__ import annotations

from oadn.common.console import console


def models_command() -> None:
    """List the registered methods and backbones."""
    from oadn.models import list_models
    from oadn.models.backbones import list_backbones

    console.print("methods:   " + ", ".join(list_models()))
    console.print("backbones: " + ", ".join(list_backbones()))
