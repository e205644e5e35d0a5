"""After a suite's columns are scored: keep the faces each test column's qualitative figure shows (the paper's
Fig. 8), as thumbnails in the report folder, so the report renders them from disk (:mod:`oadn.report.qualitative`
picks them, :mod:`oadn.engine.thumbnails` reads them through the column's own source)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from oadn.common.progress import progress_bar
from oadn.engine.thumbnails import column_thumbnails, save_thumbnails
from oadn.experiments.planning import DataLocations, ExperimentPlan
from oadn.report.manifest import load_manifest
from oadn.report.output import claim, refuse_foreign
from oadn.report.qualitative import column_selection, thumbnail_name


def keep_column_faces(report_dir: Path, plans: list[ExperimentPlan], locations: DataLocations, *,
                      progress: bool = True, log: Callable[[str], None] = print) -> dict[str, int]:
    """Write each column's thumbnails (``faces/*.npz``); returns the bytes per file. A column whose faces cannot
    be read is named and left without a figure; it never stops the report."""
    manifest = load_manifest(report_dir)
    written: dict[str, int] = {}
    columns = [(plan, column) for plan in plans for column in plan.columns]
    with progress_bar(progress) as bar:
        task = bar.add_task("faces for the qualitative figures", total=len(columns), info="")
        for plan, column in columns:
            bar.advance(task)
            experiment, name = plan.experiment.id, column.column.name
            selection = column_selection(manifest, report_dir, experiment, name)
            if selection is None or not selection.picks:
                continue
            where = {} if column.data is None else {
                "dataset": column.dataset, "options": column.column.options, "root": column.data.root,
                "split_options": column.data.split_options(locations)}
            try:
                arrays = column_thumbnails(Path(selection.reference_run), selection.image_ids,
                                           split=column.column.split, **where)
            except (OSError, KeyError, ValueError, RuntimeError) as error:
                log(f"{experiment} / {name}: no faces kept for the qualitative figure ({error})")
                continue
            file = thumbnail_name(experiment, name)
            refuse_foreign(report_dir, [file])
            claim(report_dir, [file])
            written[file] = save_thumbnails(arrays, report_dir / file)
    if written:
        log(f"qualitative figures: kept {sum(written.values()):,} bytes of faces in {len(written)} file(s) "
            f"({', '.join(f'{b:,}' for b in written.values())})")
    return written
