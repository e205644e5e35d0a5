"""The report's per-row metrics beside accuracy, as one table: what each is, how it is computed from one run's
scored predictions, how it is printed, and the note that explains it.

Pooling (mean and sample std over seeds), the results tables' headers and cells, the per-seed CSV and the notes
all iterate :data:`METRICS`; a new metric is one entry here (and its test).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from oadn.report.manifest import ScoredRow
from oadn.report.stats import CALIBRATION_BINS, brier_score, expected_calibration_error, negative_log_likelihood


@dataclass(frozen=True)
class Metric:
    """One figure per scored row (a run on a test set), pooled over seeds as mean ± sample std."""

    #: the results.csv column stem (``ece`` -> ``ece_pct`` and ``ece_std_pct``; ``nll`` -> ``nll``, ``nll_std``)
    name: str
    #: the figure of one scored row; NaN when the predictions lack what it needs (``scores``)
    per_row: Callable[[ScoredRow], float]
    #: the tables' header
    header: str
    #: printed digits; ``percent``: the figure is a share, printed and stored times 100 (``_pct`` columns)
    digits: int
    percent: bool
    #: what the report's notes say about it
    note: str

    @property
    def column(self) -> str:
        return f"{self.name}_pct" if self.percent else self.name

    @property
    def std_column(self) -> str:
        return f"{self.name}_std_pct" if self.percent else f"{self.name}_std"

    def of(self, row: ScoredRow) -> float:
        """The row's figure as stored (times 100 for a percentage)."""
        return (100 if self.percent else 1) * self.per_row(row)


def _with_scores(function: Callable[[ScoredRow], float]) -> Callable[[ScoredRow], float]:
    return lambda row: float("nan") if row.probabilities is None else function(row)


#: the metrics, in the order of their columns in results.csv and of the tables' metric headers
METRICS: tuple[Metric, ...] = (
    Metric("ece", _with_scores(lambda row: expected_calibration_error(row.probabilities.max(axis=1), row.correct)),
           "ECE %", 2, True,
           f"ECE %: expected calibration error of the top-label probability, {CALIBRATION_BINS} equal-width bins "
           "(Guo et al. 2017)"),
    Metric("nll", _with_scores(lambda row: negative_log_likelihood(row.probabilities, row.labels)), "NLL", 3, False,
           "NLL: mean negative log-likelihood of the true class in nats"),
    Metric("brier", _with_scores(lambda row: brier_score(row.probabilities, row.labels)), "Brier", 3, False,
           "Brier: mean over images of the squared distance between the class probabilities and the one-hot true "
           "class (Brier 1950; 0 is perfect, 2 the worst)"),
)
