"""A method's own settings (``model.options``): defaults filled in, unknown keys and wrong types named."""

from __future__ import annotations

from typing import Any


def method_options(given: dict[str, Any], defaults: dict[str, Any], method: str) -> dict[str, Any]:
    """``defaults`` updated with ``given``; a ValueError naming ``model.options.KEY`` for a key the method does
    not take or a value of another type than its default's (an int is accepted for a float)."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"model.options: {method} takes no option(s) {', '.join(unknown)}; "
                         f"expected some of {', '.join(sorted(defaults))}")
    out = dict(defaults)
    for key, value in given.items():
        default = defaults[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(default):
            raise ValueError(f"model.options.{key} = {value!r}: {method} expects a {type(default).__name__} "
                             f"(default {default!r})")
        out[key] = value
    return out
