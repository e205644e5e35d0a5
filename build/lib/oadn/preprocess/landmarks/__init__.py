"""Landmark backends: where the 68 points with scores come from.

Two kinds, see :mod:`.base`: image backends (``fan``, ``dlib``) predict points on the aligned face; source
backends (``dataset``, ``file``) supply points the user already has, in original image pixels.
"""

from oadn.preprocess.landmarks.base import (
    ImageLandmarkBackend,
    LandmarkBackendError,
    SourceLandmarkBackend,
    make_backend,
)

__all__ = ["ImageLandmarkBackend", "LandmarkBackendError", "SourceLandmarkBackend", "make_backend"]
