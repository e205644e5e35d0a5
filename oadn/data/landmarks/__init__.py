"""Landmark backends: where the 68 points with scores come from, for ``prepare`` and for re-scoring pasted faces.

Two kinds, see :mod:`.base`: image backends (``fan``, ``dlib``) predict points on the aligned face; source
backends (``dataset``, ``file``) supply points the user already has, in original image pixels. The registry
imports the built-in backends (:mod:`.builtin`) at its first lookup; :mod:`.visibility` scores points by whether
the face is visible there.
"""

from oadn.data.landmarks.base import (
    LANDMARK_BACKENDS,
    ImageLandmarkBackend,
    LandmarkBackend,
    LandmarkBackendError,
    SourceLandmarkBackend,
    make_backend,
)

__all__ = ["LANDMARK_BACKENDS", "ImageLandmarkBackend", "LandmarkBackend", "LandmarkBackendError",
           "SourceLandmarkBackend", "make_backend"]
