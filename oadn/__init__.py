"""oadn-bench: occlusion-robust facial expression recognition benchmark (OADN and baselines)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``oadn.load_run`` (:func:`oadn.engine.inference.load_run`), imported on first use: ``import oadn`` stays
    free of torch."""
    if name == "load_run":
        from oadn.engine.inference import load_run

        return load_run
    raise AttributeError(f"module 'oadn' has no attribute {name!r}")
