"""The built-in methods and backbones: importing this module registers them (the registries in
:mod:`oadn.models.registry` import it at their first lookup)."""

from oadn.models import backbones, baseline, face_backbones, gacnn, oadn, ran  # noqa: F401  (each module registers its entries)
