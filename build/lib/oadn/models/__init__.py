"""Backbones, the OADN heads and baselines, behind one model registry."""

from oadn.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
