"""What a failure is, for the command line's one failure policy (:func:`oadn.common.console.guarded`)."""

from __future__ import annotations

#: the project's known failures: the tool raises these with a message naming the file, key or cause (its own
#: errors derive from them); an exception class says it is a usage error with ``exit_code = 2``
KNOWN_FAILURES = (OSError, ValueError, KeyError, RuntimeError)


class UsageError(ValueError):
    """A mistake in what the user asked for (an unknown option value, a bad configuration key): exit 2."""

    exit_code = 2


def exit_code(error: BaseException) -> int:
    """2 for a usage error (its class says ``exit_code = 2``), 1 for any other known failure."""
    return int(getattr(error, "exit_code", 1))
