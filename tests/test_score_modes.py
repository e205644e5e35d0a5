"""Every registered score mode, through the one interface: it sets a batch's scores deterministically, in [0, 1],
reads the occluded pixels only when it says so (``needs_pixels``), and the lists users see are the registry's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from oadn.data.cli import app as datasets_app
from oadn.data.faces import FaceBatch
from oadn.data.registry import get_dataset
from oadn.data.score_modes.base import SCORE_MODES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "occlusion.md"


@pytest.fixture(scope="module")
def visibility_file(tmp_path_factory) -> str:
    """A tiny visibility network with random weights, in the file format ``fit-visibility`` writes."""
    from oadn.data.landmarks.visibility import VisibilityNet, save_model

    path = tmp_path_factory.mktemp("visibility") / "v.pt"
    save_model(VisibilityNet(8, 4), {"image_size": 32, "width": 8, "embed": 4}, path)
    return str(path)


@pytest.mark.parametrize("mode", SCORE_MODES.names())
def test_every_score_mode_scores_a_batch_deterministically_and_reads_pixels_only_if_it_says(
        mode, visibility_file, monkeypatch):
    if mode == "detector":
        pytest.importorskip("dlib")
    cls = SCORE_MODES.get(mode)
    if not cls.needs_pixels:  # a mode that says it needs no pixels must not read them
        monkeypatch.setattr(FaceBatch, "full_images", lambda self: pytest.fail(f"{mode} read the pixels"))
    adapter = get_dataset("occluded", base="synthetic", kind="mouth", area=0.3, probability=1.0, scores=mode,
                          visibility=visibility_file if mode == "learned" else None, train_size=14, test_size=14)
    source = adapter.open_split("test_clean", root=None, image_size=64)
    first = source.read(np.arange(6)).landmarks
    assert first.shape == (6, 68, 3) and np.all((first[..., 2] >= 0) & (first[..., 2] <= 1))
    np.testing.assert_array_equal(first, source.read(np.arange(6)).landmarks)
    assert cls.summary and cls.name == mode


def test_an_unknown_mode_is_named_with_every_registered_one():
    with pytest.raises(ValueError, match="scores must be one of " + re.escape(", ".join(SCORE_MODES.names()))):
        get_dataset("occluded", base="synthetic", scores="guess")


def test_the_lists_users_see_are_the_registrys():
    listed = CliRunner().invoke(datasets_app, ["list"], terminal_width=200)
    documented = DOCS.read_text()
    for mode in SCORE_MODES.names():
        assert f"  {mode}: " in listed.output and f"`{mode}`" in documented, mode
