"""Readers: data set adapters and their registry, prepared and packed caches, landmark backends, occlusion
transforms, synthetic faces, the iBUG-68 layout and landmark geometry. Nothing here imports a package above it.

The data set registry (:mod:`oadn.data.registry`) imports the built-in data sets (:mod:`oadn.data.adapters`) at
its first lookup, so importing this package alone loads none of them.
"""
