"""Backbones, the OADN heads, the compared methods (RAN, pACNN, gACNN) and the GAP baseline, behind one model
registry; importing this package registers the built-in methods and backbones."""

from oadn.models import backbones, baseline, face_backbones, gacnn, oadn, ran  # noqa: F401  (register the built-in entries)
from oadn.models.registry import create_model, list_models, model_class, register_model

__all__ = ["create_model", "list_models", "model_class", "register_model"]
