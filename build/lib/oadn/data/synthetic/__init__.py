"""The built-in synthetic FER data set: procedural faces of the 7 basic expressions with scored landmarks.

Real FER data sets are licensed per user, so the project ships this generator instead of data. Modules:
``shape`` (landmark geometry, expressions, pose), ``render`` (drawing and lighting), ``occluders`` (occluders
and landmark confidence), ``source`` (the FaceSource and the registered ``synthetic`` adapter).
"""

from oadn.data.synthetic.occluders import OCCLUDER_KINDS
from oadn.data.synthetic.source import SPLIT_CODES, SyntheticDataset, SyntheticFaces, balanced_labels

__all__ = ["OCCLUDER_KINDS", "SPLIT_CODES", "SyntheticDataset", "SyntheticFaces", "balanced_labels"]
