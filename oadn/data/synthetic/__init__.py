"""The built-in synthetic FER data set: procedural faces of the 7 basic expressions with scored landmarks.

Real FER data sets are licensed per user, so the project ships this generator instead of data. Modules:
``shape`` (landmark geometry, expressions, pose), ``render`` (drawing and lighting), ``source`` (the FaceSource
and the detector-like landmark confidence). Occluders come from :mod:`oadn.data.occluders.synthetic`; the
registered ``synthetic`` adapter is :mod:`oadn.data.adapters.synthetic`.
"""

from oadn.data.occluders.synthetic import OCCLUDER_KINDS
from oadn.data.synthetic.source import SPLIT_CODES, SyntheticFaces, balanced_labels

__all__ = ["OCCLUDER_KINDS", "SPLIT_CODES", "SyntheticFaces", "balanced_labels"]
