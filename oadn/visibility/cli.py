"""``oadn-bench fit-visibility``: train the landmark visibility network on a prepared data set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console()


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
    kinds: str = typer.Option("sunglasses,mask,rect,texture,upper,lower,left,right", "--kinds", help="Occluder kinds for training."),
    holdout: str = typer.Option("hand,scarf,hair", "--holdout", help="Occluder kinds kept out of training, for judging."),
    seed: int = typer.Option(0, "--seed"),
    degrade: float = typer.Option(0.0, "--degrade", help="Share of faces shrunk and enlarged back (blur as a real photo's)."),
    eval_split: Optional[str] = typer.Option(None, "--eval-split", help="Held-out faces for judging (default: the last split)."),
    option: list[str] = typer.Option([], "--option", "-o", help="Data set protocol option KEY=VALUE (repeatable)."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Train a per-landmark visibility network from pasted occluders; prints its per-point AUC on held-out
    faces with occluder kinds it never saw. Resumable: run the same command again after an interruption."""
    from oadn.data.registry import get_dataset
    from oadn.data.index import OnDiskDatasetAdapter
    from oadn.config import parse_override
    from oadn.visibility.fit import FitSettings, fit_visibility

    try:
        options: dict = {}
        for text in option:
            options.update(parse_override(text))  # values as YAML, as evaluate --option reads them
        adapter = get_dataset(name, **options)
        split_options = {}
        if isinstance(adapter, OnDiskDatasetAdapter):
            split_options = {k: v for k, v in {"cache_dir": cache_dir, "landmarks": landmarks}.items() if v is not None}
        settings = FitSettings(dataset=name, image_size=image_size, samples=samples, eval_samples=eval_samples, epochs=epochs,
                               train_kinds=kinds.split(","), holdout_kinds=holdout.split(","), seed=seed, degrade=degrade,
                               train_split=adapter.splits[0], eval_split=eval_split or adapter.splits[-1])
        train = adapter.open_split(settings.train_split, root=root, image_size=image_size, **split_options)
        held = adapter.open_split(settings.eval_split, root=root, image_size=image_size, **split_options)
        metrics = fit_visibility(train, held, settings, out, progress=progress, log=console.print)
    except (KeyError, ValueError, FileNotFoundError, NotADirectoryError, RuntimeError) as error:
        console.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(code=1)
    console.print(f"wrote {out}")
    console.print(f"per-point AUC on held-out faces: {metrics['point_auc_heldout_kinds']:.3f} with held-out kinds "
                  f"({holdout}), {metrics['point_auc_training_kinds']:.3f} with training kinds")
