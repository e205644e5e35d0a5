"""Built-in data set adapters; importing this package registers them all (the data set registry imports it at its
first lookup)."""

from oadn.data.adapters import (  # noqa: F401  (each module registers its data sets)
    affectnet,
    fedro,
    ferplus,
    folder,
    joint,
    occluded,
    rafdb,
    subsets,
    synthetic,
)
