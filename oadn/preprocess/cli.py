"""The writers' commands: ``prepare``, ``show-landmarks``, ``pack`` and ``fit-visibility`` (registered on the main
``oadn-bench`` app)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

from oadn.common.commands import command_line
from oadn.common.console import console, guarded, show_progress
from oadn.common.plugins import PLUGIN_HELP, load_plugins
from oadn.common.progress import progress_bar
from oadn.config import ConfigError, parse_options
from oadn.data.cli import OPTION_HELP
from oadn.data.registry import DatasetAdapter, open_dataset


def on_disk(name: str, option: list[str], purpose: str) -> DatasetAdapter:
    """The data set ``name`` under its ``-o`` options, which must be one on disk (``purpose``: what needs it)."""
    adapter = open_dataset(name, parse_options(option, "--option", "label_mode=majority"))
    if not adapter.checkable:
        raise typer.BadParameter(f"{name!r} is not an on-disk data set; nothing to {purpose}", param_hint="NAME")
    return adapter


@guarded
def prepare_command(
    name: str = typer.Argument(..., help="Registered data set name (see `datasets list`), e.g. ferplus."),
    root: Path = typer.Option(..., "--root", help="Your copy of the data set (read only; nothing is written there)."),
    landmarks: str = typer.Option("fan", "--landmarks", help="Landmark backend: fan | dlib | dataset | file:PATH."),
    align: str = typer.Option(
        "auto", "--align", help="auto: skip detection for images the data set marks aligned; detect: always run "
        "MTCNN; aligned: treat every image as an aligned crop (resize only)."
    ),
    fan_weights: Optional[Path] = typer.Option(
        None, "--fan-weights", help="2D-FAN weights file (default: torch hub cache)."
    ),
    cache_dir: Optional[Path] = typer.Option(
        None, "--cache-dir", help="Cache root (default $OADN_CACHE or ~/.cache/oadn-bench)."
    ),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: the GPU when there is one)."),
    chunk_size: int = typer.Option(256, "--chunk-size", help="Images per batch and per cache chunk."),
    option: list[str] = typer.Option([], "--option", "-o", help=OPTION_HELP),
    visibility: Optional[Path] = typer.Option(
        None, "--visibility", help="Visibility model (fit-visibility) scoring the points."
    ),
    progress: bool = typer.Option(True, callback=show_progress, help="Show a progress bar."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Align every image of a data set and compute 68 landmarks with scores, once, into a parquet cache.

    Idempotent (a second call does nothing) and resumable (a killed call continues where it stopped). Images
    without a face or landmarks are recorded with a reason; training and evaluation then keep them with all
    points invisible (policy keep-invisible, the default) or leave them out (policy drop).
    """
    load_plugins(plugin)
    from oadn.data.landmarks import LandmarkBackendError
    from oadn.preprocess.prepare import prepare

    adapter = on_disk(name, option, "prepare")
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=False, disable=not progress) as bar:
            task = bar.add_task(f"prepare {name}", total=None)
            summary = prepare(
                adapter, root, landmarks=landmarks, align=align, cache_dir=cache_dir, fan_weights=fan_weights,
                device=device, chunk_size=chunk_size, visibility=visibility,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except LandmarkBackendError as err:  # the backend --landmarks names cannot run here: the option must change
        raise ConfigError(f"--landmarks {landmarks}: {err}") from err
    for removed in summary.repaired_chunks:
        console.print(f"repaired: {escape(removed)}; its images were prepared again", soft_wrap=True)
    if summary.recorded_stats:
        console.print(f"note: this cache was written before file changes were tracked: recorded the current size "
                      f"and mtime of {summary.recorded_stats} image(s); changes made before now cannot be noticed")
    if summary.touched:
        console.print(f"{summary.touched} image(s) have new file times but the bytes they were prepared from: "
                      "their new times recorded, nothing prepared again")
    if summary.changed:
        console.print(f"{summary.changed} image(s) changed at the root since they were prepared: prepared again")
    console.print(f"cache: {summary.cache_dir}")
    console.print(f"landmarks: {summary.landmarker}")
    console.print(
        f"{summary.total} images: {summary.already_done} already prepared, {summary.processed} processed now "
        f"in {summary.seconds:.1f} s"
    )
    console.print("status: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.status_counts.items())))
    if summary.fallbacks:
        ok = summary.status_counts.get("ok", 0)
        show = command_line("oadn-bench", "show-landmarks", name, "--root", root, "--only", "fallback")
        console.print(f"  of the ok ones, {summary.fallbacks} ({100 * summary.fallbacks / max(ok, 1):.1f}%) are "
                      "detector fallbacks: no face was detected and the landmarks were fitted to a fixed box "
                      f"(see them: {escape(show)})", soft_wrap=True)
    for reason, count in sorted(summary.reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  {count} x {escape(reason)} (e.g. {escape(summary.examples.get(reason, ''))})", soft_wrap=True)
    if summary.failed:
        console.print(
            f"{summary.failed} failed image(s): policy keep-invisible (default) keeps them with all 68 points "
            "invisible (unreadable ones are skipped by the loader); policy drop leaves them out."
        )


@guarded
def show_landmarks_command(
    name: str = typer.Argument(..., help="Registered data set name (synthetic or a prepared one)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Your copy of the data set (not needed for synthetic)."),
    split: Optional[str] = typer.Option(None, "--split", help="Split to draw from (default: the data set's first)."),
    count: int = typer.Option(8, "--count", "-n", help="Number of images."),
    threshold: float = typer.Option(0.6, "--threshold", "-T", help="Points scoring below T are drawn as dropped."),
    out: Path = typer.Option(Path("landmarks.png"), "--out", help="PNG file to write."),
    image_size: int = typer.Option(224, "--image-size", help="Size of the aligned faces."),
    landmarks: Optional[str] = typer.Option(None, "--landmarks", help="Which prepared cache, when there are several."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache root of prepared data sets."),
    only: str = typer.Option("all", "--only", help="Which faces of a prepared set: all | fallback (no face "
                             "detected, landmarks fitted to a fixed box) | failed (no face or no landmarks)."),
    seed: int = typer.Option(0, "--seed", help="Seed for choosing the images."),
    option: list[str] = typer.Option([], "--option", "-o", help=OPTION_HELP),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Draw the 24 interest points on a few aligned faces (kept: dots, below T: crosses) to a PNG grid."""
    load_plugins(plugin)
    from oadn.preprocess.show import PICKS, pick_indices, render_landmark_grid

    if only not in PICKS:
        raise typer.BadParameter(f"expected one of {', '.join(PICKS)}, got {only!r}", param_hint="--only")
    adapter = open_dataset(name, parse_options(option, "--option", "label_mode=majority"))
    options = {}
    if adapter.needs_root:
        options = {k: v for k, v in {"landmarks": landmarks, "cache_dir": cache_dir}.items() if v is not None}
    source = adapter.open_split(split or adapter.splits[0], root=root, image_size=image_size, **options)
    path = render_landmark_grid(source, pick_indices(source, count, seed, only), out, threshold)
    console.print(f"wrote {path}")


@guarded
def pack_command(
    name: str = typer.Argument(..., help="Registered data set name whose prepared cache is packed, e.g. ferplus."),
    root: Path = typer.Option(..., "--root", help="Your copy of the data set (read only)."),
    out: Path = typer.Option(..., "--out", help="The pack file to write, e.g. ferplus.pack (a .tar.xz)."),
    size: int = typer.Option(..., "--size", help="Face size in pixels stored (FERPlus' own: 48)."),
    cache_dir: Optional[Path] = typer.Option(
        None, "--cache-dir", help="Cache root (default $OADN_CACHE or ~/.cache/oadn-bench)."
    ),
    landmarks: Optional[str] = typer.Option(None, "--landmarks", help="Which prepared cache, when there are several."),
    align: Optional[str] = typer.Option(None, "--align", help="Which prepared cache, when there are several."),
    progress: bool = typer.Option(True, callback=show_progress, help="Show a progress bar."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Pack a prepared data set (aligned uint8 faces, landmarks, label files) into one lzma-compressed file.

    Train or evaluate from it by giving the file as the data set's root:
    --set data.root=FILE (train), --root FILE (evaluate).
    """
    load_plugins(plugin)
    from oadn.preprocess.pack import pack_dataset

    adapter = on_disk(name, [], "pack")
    started = time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task(f"pack {name}", total=None, info="")
        meta = pack_dataset(
            adapter, root, out, size=size, cache_dir=cache_dir, landmarks=landmarks, align=align,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{out}: {meta['count']} faces at {size} px x {meta['channels']} channel(s), {len(meta['files'])} label "
        f"file(s), {out.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - started:.0f} s"
    )


@guarded
def fit_visibility_command(
    name: str = typer.Argument(..., help="Registered data set name (its training faces are used), e.g. ferplus."),
    root: Optional[Path] = typer.Option(None, "--root", help="Your copy of the data set."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache root of prepared data sets."),
    landmarks: Optional[str] = typer.Option(None, "--landmarks", help="Which prepared cache, when there are several."),
    out: Path = typer.Option(Path("visibility.pt"), "--out", help="Model file to write (work files go beside it)."),
    image_size: int = typer.Option(48, "--image-size", help="Face size the network sees."),
    samples: int = typer.Option(6000, "--samples", help="Occluded training faces drawn once."),
    eval_samples: int = typer.Option(1000, "--eval-samples", help="Held-out faces per judgement."),
    epochs: int = typer.Option(8, "--epochs"),
    kinds: str = typer.Option(
        "sunglasses,mask,rect,texture,upper,lower,left,right", "--kinds", help="Occluder kinds for training."
    ),
    holdout: str = typer.Option(
        "hand,scarf,hair", "--holdout", help="Occluder kinds kept out of training, for judging."
    ),
    seed: int = typer.Option(0, "--seed"),
    degrade: float = typer.Option(
        0.0, "--degrade", help="Share of faces shrunk and enlarged back (blur as a real photo's)."
    ),
    eval_split: Optional[str] = typer.Option(
        None, "--eval-split", help="Held-out faces for judging (default: the last split)."
    ),
    option: list[str] = typer.Option([], "--option", "-o", help=OPTION_HELP),
    progress: bool = typer.Option(True, callback=show_progress, help="Show progress bars."),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Train a per-landmark visibility network from pasted occluders; prints its per-point AUC on held-out
    faces with occluder kinds it never saw. Resumable: run the same command again after an interruption."""
    load_plugins(plugin)
    from oadn.preprocess.visibility_fit import FitSettings, fit_visibility

    adapter = open_dataset(name, parse_options(option, "--option", "label_mode=majority"))
    split_options = {}
    if adapter.needs_root:
        split_options = {k: v for k, v in {"cache_dir": cache_dir, "landmarks": landmarks}.items() if v is not None}
    settings = FitSettings(dataset=name, image_size=image_size, samples=samples, eval_samples=eval_samples,
                           epochs=epochs, train_kinds=kinds.split(","), holdout_kinds=holdout.split(","),
                           seed=seed, degrade=degrade, train_split=adapter.splits[0],
                           eval_split=eval_split or adapter.splits[-1])
    train = adapter.open_split(settings.train_split, root=root, image_size=image_size, **split_options)
    held = adapter.open_split(settings.eval_split, root=root, image_size=image_size, **split_options)
    metrics = fit_visibility(train, held, settings, out, progress=progress, log=console.print)
    console.print(f"wrote {out}")
    console.print(f"per-point AUC on held-out faces: {metrics['point_auc_heldout_kinds']:.3f} with held-out kinds "
                  f"({holdout}), {metrics['point_auc_training_kinds']:.3f} with training kinds")
