"""Whether a weights file's tensors fit a module: the one check behind every pretrained load, so a local file, a
face-recognition file and any later source name the same three kinds of misfit in the same words."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StateMismatch:
    """What keeps ``state`` from loading into a module: its weights absent, names it does not have, other shapes."""

    missing: list[str]
    unexpected: list[str]
    wrong_shape: list[str]  # "name (shape) (expected (shape))"

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.wrong_shape)

    def describe(self) -> str:
        return (f"{len(self.missing)} missing key(s) (e.g. {self.missing[:3]}), {len(self.unexpected)} unexpected "
                f"key(s) (e.g. {self.unexpected[:3]}), {len(self.wrong_shape)} of another shape "
                f"(e.g. {self.wrong_shape[:3]})")


def state_mismatch(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], *,
                   optional: Collection[str] = (), ignored: Collection[str] = ()) -> StateMismatch:
    """Compare ``state`` with a module's ``expected`` state dict; keys in ``optional`` may be absent from ``state``,
    keys in ``ignored`` may be in it without the module having them."""
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected and k not in ignored]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})" for k in state
             if k in expected and state[k].shape != expected[k].shape]
    return StateMismatch(missing, unexpected, wrong)


__all__ = ["StateMismatch", "state_mismatch"]
