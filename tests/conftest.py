"""Shared test set-up: no network look-ups, small thread counts, paths to the shared real data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# An empty torch hub home: tests must never pick up (or download) real weights from the user's cache.
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="oadn-test-torch-home-")

# Tiny models gain nothing from intra-op threads, and spinning OpenMP threads collapse when cores are shared.
torch.set_num_threads(1)

#: fixtures several test files share (tests/fixtures/)
pytest_plugins = ["fixtures.rafdb", "fixtures.reports"]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data next to the checkout (../shared/data); tests needing it skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def own_cache_root(tmp_path_factory, monkeypatch):
    """Each test writes what the data path keeps on disk (occluded test splits, face stores) into its own cache
    root: a split painted by another test could hide a bug in this one, and nothing lands in the user's cache."""
    monkeypatch.setenv("OADN_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def isolate_registries(monkeypatch):
    """A function that gives registries copies of their entries (built-in ones loaded first) for one test, so what
    a test registers leaves with it."""

    def isolate(*registries) -> None:
        for registry in registries:
            monkeypatch.setattr(registry, "_entries", dict(registry.entries))

    return isolate
