"""The built-in executors: importing this module registers ``local`` and ``slurm`` (the registry in
:mod:`oadn.experiments.executors.base` imports it at its first lookup)."""

from oadn.experiments.executors import local, slurm  # noqa: F401  (each module registers its executor)
