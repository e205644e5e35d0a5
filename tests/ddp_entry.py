"""torchrun entry for tests: ``oadn-bench`` with the test-only data sets registered (they live in test code)."""

import helpers_broken  # noqa: F401  (registers test-broken-synthetic)
from oadn.cli import app

app()
