"""Readers: data set adapters and their registry, prepared and packed caches, landmark backends, occlusion
transforms, synthetic faces, the iBUG-68 layout and landmark geometry. Nothing here imports a package above it.

Importing this package registers every built-in data set (:mod:`oadn.data.adapters`).
"""

from oadn.data import adapters  # noqa: F401  (registers the built-in data sets)
