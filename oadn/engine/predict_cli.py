"""``oadn-bench predict``: a trained run on a folder of one's own photos (:mod:`oadn.engine.inference`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from oadn.common.console import guarded, log, show_progress
from oadn.common.plugins import PLUGIN_HELP, load_plugins


@guarded
def predict_command(
    run: Path = typer.Argument(..., help="Run directory (its selected weights, best.pt, are used)."),
    images: list[Path] = typer.Argument(..., help="Image files and folders (folders are searched for images)."),
    out: Path = typer.Option(Path("predictions"), "--out", help="Folder for predictions.csv (and overlays/)."),
    landmarks: Optional[str] = typer.Option(None, "--landmarks", help="Landmark backend (fan, dlib); default the "
                                            "run's own, as its configuration or prepared cache records it."),
    aligned: bool = typer.Option(False, "--aligned", help="The images are aligned face crops (as FERPlus' and "
                                 "RAF-DB's): resized, not detected."),
    overlay: bool = typer.Option(False, "--overlay", help="Also draw each aligned face with its kept and dropped "
                                 "interest points and the predicted label, one PNG per image, into OUT/overlays/."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    progress: bool = typer.Option(True, callback=show_progress, help="Show progress bars."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Predict the expression of every face in IMAGES with a trained run: one CSV row per image (face box, each
    class's probability fused and per branch, the prediction, the interest points kept under T); a file without
    a usable face gets a named status, and the others go on."""
    load_plugins(plugin)
    from oadn.common.files import save_bytes
    from oadn.engine.inference import PredictError, load_run, prediction_table
    from oadn.engine.overlays import overlay_name, write_overlay

    trained = load_run(run, device)
    predictions = trained.predict_faces(images, landmarks=landmarks, aligned=aligned, progress=progress)
    table = prediction_table(predictions, trained.classes, trained.threshold)
    save_bytes(table.to_csv(index=False).encode(), out / "predictions.csv")
    if overlay:
        for position, prediction in enumerate(predictions):
            write_overlay(prediction, trained.classes, trained.threshold,
                          out / "overlays" / overlay_name(position, prediction.face.file))
    for row in table[table["status"] != "ok"].itertuples():
        log(f"{row.file}: {row.status}: {row.reason}")
    done = int((table["status"] == "ok").sum())
    log(f"{done} of {len(table)} images predicted; {len(table) - done} without a prediction (named above)")
    log(f"predictions written to {out / 'predictions.csv'}" + (f", overlays to {out / 'overlays'}" if overlay else ""))
    if not done:
        raise PredictError(f"no face predicted in {len(table)} input(s): each is named above with why")
