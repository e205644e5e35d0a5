"""Pre-registered endpoints and what occlusion columns carry besides accuracy, from a suite's predictions.

An endpoint, stated in the suite file before any run trains, contrasts two columns of the same runs: the same
faces and weights scored two ways (oracle scores against all-1.0 or random-drop ones), for one method and branch.
The difference is paired over the faces and pooled over seeds: every bootstrap resample of the faces keeps the
same faces for every seed and takes the mean over seeds (95% percentile interval). Per-seed contrasts and their
spread come with it. The verdict is the suite's rule: "met" when the pooled contrast reaches ``bar`` points, its
interval lies above 0 and most seeds are positive; otherwise "not met" (or "missing" without finished runs).

Besides, a swapped column's donor-class rate (the share of faces with another face's region that a branch
predicts as the donor's class) and the interest points each column leaves kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from oadn.report.manifest import ScoredRow

#: the branch names a suite file uses -> the prediction columns' names
BRANCHES = {"attention": "lab", "region": "frb", "fused": "prediction"}
ENDPOINT_COLUMNS = ["endpoint", "primary", "experiment", "method", "branch", "column", "against", "bar_points",
                    "seeds", "faces", "points", "ci_low", "ci_high", "per_seed", "seed_std", "positive_seeds",
                    "verdict"]
DONOR_COLUMNS = ["experiment", "column", "method", "branch", "seeds", "swapped_faces", "donor_rate_pct"]
KEPT_COLUMNS = ["experiment", "column", "method", "faces", "mean_kept", "all_24_pct", "none_pct"]


@dataclass(frozen=True)
class Endpoint:
    """One pre-registered contrast: ``column`` minus ``against`` for ``method``'s ``branch``, in points. A suite file
    may give each column by its fields (a mapping, resolved to the column's name when the suite is loaded)."""

    name: str
    method: str
    column: str | dict[str, Any]
    against: str | dict[str, Any]
    branch: str = "attention"  # attention | region | fused
    bar: float = 0.0  # the smallest pooled contrast, in points, that counts as "met"
    primary: bool = False
    experiment: str | None = None  # None: every experiment that has both columns

    @classmethod
    def parse(cls, value: Any, where: str) -> "Endpoint":
        """An endpoint from a suite file's mapping; a ValueError names ``where`` and what is wrong."""
        known = [f.name for f in fields(cls)]
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping with {', '.join(known)}, got {value!r}")
        unknown = sorted(set(value) - set(known))
        missing = [k for k in ("name", "method", "column", "against") if k not in value]
        if unknown or missing:
            raise ValueError(f"{where}: " + "; ".join(
                ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
                + ([f"missing key(s) {', '.join(missing)}"] if missing else []))
                + f"; expected some of {', '.join(known)}")
        endpoint = cls(**value)
        if endpoint.branch not in BRANCHES:
            raise ValueError(f"{where}: branch {endpoint.branch!r}; expected one of {', '.join(BRANCHES)}")
        if isinstance(endpoint.bar, bool) or not isinstance(endpoint.bar, (int, float)):
            raise ValueError(f"{where}: bar {endpoint.bar!r}; expected a number of points")
        if not isinstance(endpoint.primary, bool):
            raise ValueError(f"{where}: primary {endpoint.primary!r}; expected true or false")
        wrong = [f"{key} {getattr(endpoint, key)!r}" for key in ("column", "against")
                 if not isinstance(getattr(endpoint, key), (str, dict))]
        if wrong:
            raise ValueError(f"{where}: {'; '.join(wrong)}: expected a column's name or its fields, e.g. "
                             "{kind: eyes, scores: oracle}")
        return endpoint

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_contrast(difference: np.ndarray, resamples: int, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """Mean over seeds and faces of ``difference`` (seeds x faces, per-face differences of 0/1 correctness), in
    points, and its percentile interval resampling the faces (the same faces for every seed)."""
    seeds, faces = difference.shape
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, 500):  # multinomial weights: resamples x faces, never seeds x that
        weights = rng.multinomial(faces, np.full(faces, 1.0 / faces), size=min(500, resamples - start))
        means.append((difference @ weights.T / faces).mean(axis=0))
    means = np.concatenate(means)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return 100 * float(difference.mean()), 100 * float(low), 100 * float(high)


def _on_common_faces(first: dict[int, ScoredRow], second: dict[int, ScoredRow], branch: str) -> np.ndarray:
    """seeds x faces: branch correctness of ``first`` minus ``second`` on the faces both columns and every seed
    scored, faces in image-id order."""
    seeds = sorted(set(first) & set(second))
    common = None
    for seed in seeds:
        ids = np.intersect1d(first[seed].image_ids, second[seed].image_ids)
        common = ids if common is None else np.intersect1d(common, ids)
    rows = []
    for seed in seeds:
        a = pd.Series(first[seed].correct_of(branch), index=first[seed].image_ids).loc[common].to_numpy(float)
        b = pd.Series(second[seed].correct_of(branch), index=second[seed].image_ids).loc[common].to_numpy(float)
        rows.append(a - b)
    return np.stack(rows) if rows else np.zeros((0, 0))


def verdict(points: float, low: float, per_seed: list[float], bar: float) -> str:
    """The suite's rule: at least ``bar`` points pooled, the interval above 0, most seeds positive."""
    positive = sum(value > 0 for value in per_seed)
    return "met" if points >= bar and low > 0 and positive > len(per_seed) / 2 else "not met"


def endpoint_rows(endpoints: list[Endpoint], scored: dict[tuple[str, str, str], dict[int, ScoredRow]],
                  experiments: list[str], resamples: int) -> pd.DataFrame:
    """One row per endpoint and experiment: pooled contrast with its interval, per-seed contrasts, verdict.

    ``scored``: (experiment, column, method) -> seed -> scored predictions."""
    rows = []
    for endpoint in endpoints:
        branch = BRANCHES[endpoint.branch]
        for experiment in ([endpoint.experiment] if endpoint.experiment else experiments):
            first = scored.get((experiment, endpoint.column, endpoint.method), {})
            second = scored.get((experiment, endpoint.against, endpoint.method), {})
            if endpoint.experiment is None and not (first or second):
                continue
            base = {"endpoint": endpoint.name, "primary": endpoint.primary, "experiment": experiment,
                    "method": endpoint.method, "branch": endpoint.branch, "column": endpoint.column,
                    "against": endpoint.against, "bar_points": endpoint.bar}
            try:
                difference = _on_common_faces(first, second, branch)
            except KeyError:  # the method's predictions have no such branch
                difference = np.zeros((0, 0))
            if not difference.size:
                rows.append({**base, "seeds": 0, "verdict": "missing"})
                continue
            points, low, high = paired_contrast(difference, resamples)
            per_seed = [100 * float(d.mean()) for d in difference]
            seeds = sorted(set(first) & set(second))
            rows.append({
                **base, "seeds": len(per_seed), "faces": difference.shape[1], "points": points, "ci_low": low,
                "ci_high": high, "per_seed": " ".join(f"{s}:{v:+.2f}" for s, v in zip(seeds, per_seed)),
                "seed_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan"),
                "positive_seeds": sum(v > 0 for v in per_seed),
                "verdict": verdict(points, low, per_seed, endpoint.bar),
            })
    return pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)


def donor_rates(scored: dict[tuple[str, str, str], dict[int, ScoredRow]]) -> pd.DataFrame:
    """Per (experiment, column, method, branch) with swapped faces: the share predicted as the donor's class, in
    percent, mean over seeds."""
    rows = []
    for (experiment, column, method), by_seed in scored.items():
        runs = [r for r in by_seed.values() if r.swapped is not None and r.swapped.any()]
        if not runs:
            continue
        for branch in runs[0].donor_hits:
            rates = [100 * float(r.donor_hits[branch][r.swapped].mean()) for r in runs]
            rows.append({"experiment": experiment, "column": column, "method": method,
                         "branch": {v: k for k, v in BRANCHES.items()}.get(branch, branch), "seeds": len(rates),
                         "swapped_faces": int(runs[0].swapped.sum()), "donor_rate_pct": float(np.mean(rates))})
    return pd.DataFrame(rows, columns=DONOR_COLUMNS)


def kept_points(scored: dict[tuple[str, str, str], dict[int, ScoredRow]]) -> pd.DataFrame:
    """Per (experiment, column): the interest points kept per face (of 24) by the first method that drops points
    by score, and the share of faces keeping all and none (the same faces and scores for every such method)."""
    rows, seen = [], set()
    for (experiment, column, method), by_seed in scored.items():
        runs = [r for _, r in sorted(by_seed.items()) if r.kept_points is not None]
        if (experiment, column) in seen or not runs:
            continue
        seen.add((experiment, column))
        kept = runs[0].kept_points
        rows.append({"experiment": experiment, "column": column, "method": method, "faces": len(kept),
                     "mean_kept": float(kept.mean()), "all_24_pct": 100 * float((kept == 24).mean()),
                     "none_pct": 100 * float((kept == 0).mean())})
    return pd.DataFrame(rows, columns=KEPT_COLUMNS)
