"""Uncertainty of an accuracy, calibration, and paired comparisons of methods on the same test images.

A test set of a few hundred faces (Occlusion-FERPlus has ~600) moves accuracy by several points between
resamples, so every figure gets a bootstrap interval, and "A beats B" gets McNemar's paired test; comparing many
methods at once makes many tests, so the all-pairs matrix is Holm-corrected. Two methods of equal accuracy can
differ in how far their scores can be trusted: expected calibration error and NLL say that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest, chi2
from sklearn.metrics import log_loss

EXACT_BELOW = 25  # discordant pairs under which McNemar uses the exact binomial test
CALIBRATION_BINS = 15  # equal-width confidence bins of the expected calibration error (Guo et al. 2017)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class McNemar:
    only_first: int  # images the first method gets right and the second wrong
    only_second: int
    p_value: float
    test: str  # "exact binomial" | "chi-square (continuity corrected)"


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """resamples x n: how often each of n items is drawn in each bootstrap resample (weights instead of copies)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def bootstrap_intervals(
    labels: np.ndarray,
    correct: np.ndarray,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile intervals of overall and mean-class accuracy, resampling test images with replacement.

    ``correct`` is (images,) or (seeds, images) on the same images; with several seeds each resample keeps
    the same images for every seed and the statistic is the mean over seeds (the table's mean).
    Mean-class accuracy averages the recall of the classes present in the resample.
    """
    labels = np.asarray(labels)
    correct = np.atleast_2d(np.asarray(correct, dtype=float))
    if correct.shape[1] != len(labels) or len(labels) == 0:
        raise ValueError(f"need one correctness flag per test image: {correct.shape} vs {len(labels)} labels")
    n = len(labels)
    weights = resample_weights(n, resamples, seed)  # (B, n)
    accuracy = (weights @ correct.T / n).mean(axis=1)
    classes, label_index = np.unique(labels, return_inverse=True)
    onehot = np.eye(len(classes))[label_index]  # (n, C)
    support = weights @ onehot  # (B, C)
    hits = np.stack([weights @ (onehot * row[:, None]) for row in correct])  # (S, B, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
    mean_class = np.nanmean(recall, axis=2).mean(axis=0)
    tail = 100 * (1 - level) / 2
    return {
        "accuracy": Interval(*np.percentile(accuracy, [tail, 100 - tail])),
        "mean_class_accuracy": Interval(*np.percentile(mean_class, [tail, 100 - tail])),
    }


def mcnemar(first_correct: np.ndarray, second_correct: np.ndarray) -> McNemar:
    """Paired McNemar test on per-image correctness of two methods (same images, same order).

    Exact two-sided binomial test on the discordant pairs when there are fewer than ``EXACT_BELOW``; otherwise
    the chi-square statistic (|b - c| - 1)^2 / (b + c) with one degree of freedom.
    """
    first = np.asarray(first_correct, dtype=bool)
    second = np.asarray(second_correct, dtype=bool)
    if first.shape != second.shape:
        raise ValueError(f"McNemar needs the same images for both methods: {first.shape} vs {second.shape}")
    b = int(np.sum(first & ~second))
    c = int(np.sum(~first & second))
    if b + c < EXACT_BELOW:
        p = binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
        return McNemar(b, c, float(p), "exact binomial")
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemar(b, c, float(chi2.sf(statistic, df=1)), "chi-square (continuity corrected)")


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Per equal-width confidence bin (lower edge excluded, upper included: (0, 1/15], ...): images, mean
    confidence, accuracy; the rows of a reliability diagram and of the ECE."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "images": count,
                         "confidence": mean_confidence, "accuracy": accuracy})


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Sum over equal-width bins of (images in bin / images) * |accuracy - mean confidence| (top-label ECE)."""
    table = reliability_bins(confidence, correct, bins)
    filled = table[table["images"] > 0]
    return float((filled["images"] * (filled["accuracy"] - filled["confidence"]).abs()).sum() / table["images"].sum())


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(true class) in nats; probabilities are clipped by scikit-learn's rule (a zero is not infinite)."""
    probabilities = np.asarray(probabilities, dtype=float)
    return float(log_loss(labels, probabilities, labels=np.arange(probabilities.shape[1])))


def brier_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean over images of the squared distance between the class probabilities and the one-hot true class."""
    one_hot = np.eye(probabilities.shape[1])[labels]
    return float(((probabilities - one_hot) ** 2).sum(axis=1).mean())


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    scaled = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted
