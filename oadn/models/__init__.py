"""Backbones, the OADN heads, the compared methods (RAN, pACNN, gACNN) and the GAP baseline, behind one model
registry; the registries import the built-in entries (:mod:`oadn.models.builtin`) at their first lookup."""

from oadn.models.registry import create_model, list_models, model_class, register_model

__all__ = ["create_model", "list_models", "model_class", "register_model"]
