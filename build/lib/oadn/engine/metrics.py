"""Overall accuracy, mean class accuracy and the confusion matrix, kept apart because FER papers mix them up.

Overall accuracy counts images; mean class accuracy averages per-class recall over the classes present in the
ground truth (a class with no test image is left out rather than counted as 0).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Metrics of one branch on one split, as plain JSON-ready values."""
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if len(labels) == 0:
        raise ValueError("cannot compute metrics on an empty split")
    matrix = confusion_matrix(labels, predictions, labels=list(range(len(classes))))
    support = matrix.sum(axis=1)
    present = support > 0
    recall = np.divide(np.diag(matrix), support, out=np.zeros(len(classes)), where=present)
    return {
        "count": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predictions)),
        "mean_class_accuracy": float(recall[present].mean()),
        "per_class_accuracy": {name: (float(r) if p else None) for name, r, p in zip(classes, recall, present)},
        "confusion_matrix": matrix.tolist(),
        "classes": list(classes),
    }
