"""The paper's Fig. 8 in a suite report: faces where our OADN and each compared method disagree, both ways.

Which faces: per test set, at the lowest seed OADN and another method share, for each other method two seeded
samples of up to :data:`PER_SIDE` faces: those OADN gets right and the method wrong, and those the method gets
right and OADN wrong (not only the flattering way). The sample is a pure function of the predictions and the
method's name, so ``run`` (which keeps the faces' thumbnails) and the report (which draws them) pick the same.

Where the faces come from: ``run`` writes the picked faces of each test column once, as 64 px thumbnails with
their 24 interest points and scores as the column gave them (``faces/<name>.npz`` in the report folder: about
12 KB per face before compression; :func:`thumbnail_name`). The report reads them with the predictions; a column
without thumbnails (a report from before they were kept) draws no figure.

Under each face: the true class, then every method's prediction, green where right and red where wrong (the
pair that picked the face first); OADN's kept interest points (score >= its T) as green dots, dropped ones as
red crosses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from oadn.common.files import read_checked
from oadn.report.figure_names import figure_name
from oadn.report.manifest import ScoredRow, score_row
from oadn.report.summary import reference_method

#: faces per method and direction
PER_SIDE = 4
#: thumbnail side in pixels
THUMBNAIL = 64


@dataclass
class Pick:
    """One face of the figure: picked because OADN and ``versus`` disagree on it (``oadn_right`` says how)."""

    image_id: str
    versus: str
    oadn_right: bool


@dataclass
class Selection:
    """What one test set's figure shows: the seed, the methods and their predictions on the picked faces."""

    experiment: str
    column: str
    seed: int
    reference: str
    methods: list[str]
    picks: list[Pick]
    truth: dict[str, str] = field(default_factory=dict)
    #: method -> image id -> predicted class name
    predicted: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the reference run's directory at that seed (its T is the one points are kept under)
    reference_run: str = ""

    @property
    def image_ids(self) -> list[str]:
        return list(dict.fromkeys(p.image_id for p in self.picks))


def thumbnail_name(experiment: str, column: str) -> str:
    """``faces/<readable slug>-<8 hex>.npz``: the test column's thumbnails in the report folder."""
    return "faces/" + figure_name("faces", experiment, column).removesuffix(".png") + ".npz"


def _stable(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def pick_faces(scored: dict[str, ScoredRow], reference: str, per_side: int = PER_SIDE, seed: int = 0) -> list[Pick]:
    """The seeded sample of disagreements between ``reference`` and every other method (module docstring)."""
    ref = scored[reference]
    picks = []
    for method, other in scored.items():
        if method == reference:
            continue
        common, mine, theirs = np.intersect1d(ref.image_ids, other.image_ids, return_indices=True)
        ref_ok, other_ok = ref.correct[mine], other.correct[theirs]
        for oadn_right, mask in ((True, ref_ok & ~other_ok), (False, ~ref_ok & other_ok)):
            candidates = common[mask]
            rng = np.random.default_rng([seed, _stable(method), int(oadn_right)])
            chosen = sorted(rng.choice(candidates, size=min(per_side, len(candidates)), replace=False).tolist())
            picks += [Pick(str(image_id), method, oadn_right) for image_id in chosen]
    return picks


def _predicted(row: ScoredRow, ids: list[str]) -> dict[str, str]:
    """The class ``row`` predicted for each of ``ids`` it scored."""
    where = {str(i): k for k, i in enumerate(row.image_ids)}
    return {i: row.predicted_classes[int(row.predicted[where[i]])] for i in ids if i in where}


def column_selection(manifest: pd.DataFrame, report_dir: Path, experiment: str, column: str) -> Selection | None:
    """The faces and predictions of one test set's figure; None without an OADN row and another method to pair
    it with on a shared seed."""
    rows = manifest[(manifest["experiment"] == experiment) & (manifest["column"] == column)
                    & (manifest["status"] == "finished")]
    methods = list(dict.fromkeys(rows["method"]))
    reference = reference_method(methods)
    if reference is None:
        return None
    seeds = sorted(set(rows.loc[rows["method"] == reference, "seed"]))
    seed = next((s for s in seeds if (rows.loc[rows["seed"] == s, "method"] != reference).any()), None)
    if seed is None:
        return None
    at_seed = rows[rows["seed"] == seed].drop_duplicates("method").set_index("method")
    shown = [m for m in methods if m in at_seed.index]
    scored = {m: score_row(at_seed.loc[m], report_dir) for m in shown}
    picks = pick_faces(scored, reference)
    ids = list(dict.fromkeys(p.image_id for p in picks))
    ref = scored[reference]
    where = {str(i): k for k, i in enumerate(ref.image_ids)}
    truth = {i: ref.scored_classes[int(ref.labels[where[i]])] for i in ids if i in where}
    predicted = {m: _predicted(scored[m], ids) for m in shown}
    return Selection(experiment, column, int(seed), reference, shown, picks, truth, predicted,
                     str(at_seed.loc[reference, "run_dir"]))


def _short(name: str, width: int = 16) -> str:
    """A method's name cut to fit under a thumbnail, an ellipsis saying it was cut."""
    return name if len(name) <= width else name[: width - 1].rstrip() + "\u2026"


def read_thumbnails(path: Path) -> dict[str, np.ndarray]:
    """A column's thumbnails (ids, images, interest points, T), read without pickles."""
    def load(p: Path) -> dict[str, np.ndarray]:
        with np.load(p, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    return read_checked(path, load, "run the suite again: it writes the faces again")


def plot_disagreements(selection: Selection, thumbnails: dict[str, np.ndarray], path: Path) -> Path | None:
    """The figure (see the module docstring); None when none of the picked faces has a thumbnail."""
    from oadn.preprocess.show import draw_interest_points
    from oadn.report.plots import _save, plt

    index = {str(i): k for k, i in enumerate(thumbnails["image_ids"])}
    rows = [m for m in selection.methods if m != selection.reference]
    by_row = {m: [p for p in selection.picks if p.versus == m and p.image_id in index] for m in rows}
    rows = [m for m in rows if by_row[m]]
    if not rows:
        return None
    columns = max(len(v) for v in by_row.values())
    lines = 1 + len(selection.methods)
    height = 1.25 + 0.13 * lines
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.6 * columns + 0.6, height * len(rows) + 0.6),
                             squeeze=False)
    threshold = float(thumbnails["threshold"])
    for r, method in enumerate(rows):
        for c in range(columns):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(by_row[method]):
                continue
            pick = by_row[method][c]
            k = index[pick.image_id]
            ax.imshow(thumbnails["images"][k])
            points = thumbnails["points"][k]
            found = bool(np.abs(points).max() > 0)
            kept = points[:, 2] >= threshold if np.isfinite(threshold) else np.ones(len(points), dtype=bool)
            draw_interest_points(ax, points, kept & found, scale=0.35)
            truth = selection.truth.get(pick.image_id, "?")
            order = [selection.reference, method] + [m for m in selection.methods
                                                     if m not in (selection.reference, method)]
            ax.text(0.5, -0.04, f"true: {truth}", transform=ax.transAxes, ha="center", va="top", fontsize=6)
            for line, name in enumerate(order, start=1):
                said = selection.predicted.get(name, {}).get(pick.image_id, "-")
                colour = "#1a7f1a" if said == truth else "#c0392b"
                ax.text(0.5, -0.04 - 0.12 * line, f"{_short(name)}: {said}", transform=ax.transAxes, ha="center",
                        va="top", fontsize=5.5, color=colour, fontweight="bold" if line <= 2 else "normal")
        axes[r, 0].set_title(f"OADN vs {method}", loc="left", fontsize=8, pad=3)
        axes[r, columns - 1].set_title("left: OADN right and it wrong; right: the reverse", loc="right", fontsize=5.5,
                                       pad=3, color="#555")
    points = (f"OADN's kept at T={threshold:g} green, dropped red" if np.isfinite(threshold)
              else "the reference method's, which drops none")
    fig.suptitle(f"{selection.column}: where OADN and the others disagree (seed {selection.seed}; points: {points})",
                 fontsize=8)
    fig.subplots_adjust(hspace=0.25 + 0.13 * lines, wspace=0.15, top=1 - 0.5 / (height * len(rows) + 0.6))
    return _save(fig, path)
