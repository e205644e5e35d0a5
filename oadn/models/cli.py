"""The ``models`` command: what methods and backbones are registered."""

from __future__ import annotations

import typer

from oadn.common.console import console, guarded
from oadn.common.plugins import PLUGIN_HELP, load_plugins


@guarded
def models_command(
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """List the registered methods and backbones."""
    load_plugins(plugin)
    from oadn.models import list_models
    from oadn.models.backbones import list_backbones

    console.print("methods:   " + ", ".join(list_models()))
    console.print("backbones: " + ", ".join(list_backbones()))
    from oadn.models.face_weights import PUBLISHED

    console.print("face-recognition weights (model.pretrained): " + ", ".join(
        f"{spec.backbone} {spec.tag} ({spec.file})" for spec in PUBLISHED.values()), markup=False)
