"""Built-in data set adapters; importing this package registers them all."""

from oadn.data import synthetic  # noqa: F401
