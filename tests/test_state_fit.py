"""The one check behind every pretrained load: which weights are absent, unknown or of another shape."""

from __future__ import annotations

import torch

from oadn.models.state_fit import state_mismatch


def _state(**shapes: tuple[int, ...]) -> dict[str, torch.Tensor]:
    return {name.replace("_", "."): torch.zeros(shape) for name, shape in shapes.items()}


def test_a_state_that_fits_is_no_mismatch():
    expected = _state(conv_weight=(4, 3, 3, 3), bn_running_mean=(4,))
    assert not state_mismatch(expected, dict(expected))


def test_each_kind_of_misfit_is_named_with_shapes():
    expected = _state(conv_weight=(4, 3, 3, 3), bn_running_mean=(4,), fc_weight=(2, 4))
    state = _state(conv_weight=(4, 1, 3, 3), fc_weight=(2, 4), head_bias=(2,))
    mismatch = state_mismatch(expected, state)
    assert mismatch.missing == ["bn.running.mean"]
    assert mismatch.unexpected == ["head.bias"]
    assert mismatch.wrong_shape == ["conv.weight (4, 1, 3, 3) (expected (4, 3, 3, 3))"]
    assert mismatch.describe().startswith("1 missing key(s) (e.g. ['bn.running.mean']), 1 unexpected key(s)")


def test_optional_keys_may_be_absent_and_ignored_keys_present():
    expected = _state(conv_weight=(4, 3, 3, 3), bn_count=(1,))
    state = _state(conv_weight=(4, 3, 3, 3), fc_weight=(8, 4))
    assert state_mismatch(expected, state)
    assert not state_mismatch(expected, state, optional=["bn.count"], ignored=["fc.weight"])
