"""oadn-bench: occlusion-robust facial expression recognition benchmark (OADN and baselines)."""

__version__ = "0.1.0"
