"""What each stage of training and scoring costs per face, and how fast a test column is scored.

- Stage costs: CPU milliseconds per face, the process time of ONE thread (torch limited to one thread while
  measuring), of reading training faces as the loader does, the same data set without its occluders, each
  method's training step, OADN's forward pass and reading each scored column's faces. Other jobs on a shared
  machine stretch wall time but hardly this figure, so two machines or two versions compare by it.
- Scoring rates: a column scored as ``evaluate`` scores it (wall faces/s, all threads), the first time (an
  occluded test split kept on disk is removed first, so it is painted again) and again after reopening it (what
  a second process finds), against OADN's forward pass alone on resident inputs.
"""

from __future__ import annotations

import itertools
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from oadn.config import RunConfig
from oadn.data.faces import FaceSource
from oadn.data.occlusion import OccludedSource
from oadn.data.registry import DatasetAdapter, get_dataset
from oadn.engine.device import autocast_for, precision_for
from oadn.engine.evaluate import column_options
from oadn.engine.loader import make_loader
from oadn.engine.predict import predict


@dataclass
class Column:
    """A test set scored by the bench: a data set (default the run's), its protocol options over the run's, and
    a split."""

    name: str
    dataset: str | None = None
    options: dict[str, Any] | None = None
    split: str | None = None

    @classmethod
    def parse(cls, value: dict[str, Any]) -> "Column":
        unknown = sorted(set(value) - {"name", "dataset", "options", "split"})
        if unknown or "name" not in value:
            raise ValueError(f"a bench column is a mapping {{name, dataset, options, split}} with at least a name; "
                             f"got {value!r}")
        return cls(**value)


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on the calling thread only, so the thread's CPU time is all the work's CPU time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def cpu_ms_per_face(work: Callable[[], int], warm: bool = False) -> float:
    """CPU milliseconds of this thread per face for ``work()``, which returns how many faces it handled; with
    ``warm``, after one untimed call (what is built once, a face store or occluder sprites, is not counted)."""
    with one_thread():
        if warm:
            work()
        started = time.thread_time()
        faces = work()
        return 1e3 * (time.thread_time() - started) / max(faces, 1)


def read_batches(source: FaceSource, config: RunConfig, batches: int | None, train: bool) -> Callable[[], int]:
    """Work that reads ``batches`` batches of ``source`` (None: an evaluation pass over all of it) as training
    (``train``) or evaluation reads them, in this thread (no workers); returns the faces read."""
    def work() -> int:
        loader = make_loader(source, batch_size=config.train.batch_size, train=train, seed=config.train.seed,
                             num_workers=0)
        stream = loader.epoch(0) if train else iter(loader)
        faces = 0
        for _, batch in zip(range(batches) if batches is not None else itertools.count(), stream):
            faces += batch["size"]
        if train:
            loader.close()
        return faces

    return work


def open_column(config: RunConfig, column: Column) -> tuple[DatasetAdapter, str]:
    """The column's adapter (the run's protocol options its adapter accepts, then the column's) and split (default:
    the run's first test split the data set has, else its first test split)."""
    dataset = column.dataset or config.data.name
    adapter = get_dataset(dataset, **column_options(dataset, config.data.options, column.options))
    adapter = adapter.at_root(config.data.root)
    if column.split:
        return adapter, column.split
    tests = [s for s in config.data.test_splits if s in adapter.splits]
    return adapter, (tests or [s for s in adapter.splits if s.startswith("test")] or list(adapter.splits))[0]


def open_split_fresh(adapter: DatasetAdapter, config: RunConfig, split: str, forget: bool) -> FaceSource:
    """``split`` opened anew, as a new process opens it; with ``forget``, an occluded test split kept on disk is
    removed first, so it is painted again (the bench's "first time")."""
    root = Path(config.data.root) if config.data.root else None
    source = adapter.open_split(split, root=root, image_size=config.data.image_size, **config.data.split_options)
    if forget and isinstance(source, OccludedSource) and source.store is not None:
        shutil.rmtree(source.store.directory, ignore_errors=True)
        source = adapter.open_split(split, root=root, image_size=config.data.image_size,
                                    **config.data.split_options)
    return source


def forward_rate(model: torch.nn.Module, config: RunConfig, device: torch.device, batches: int) -> float:
    """Wall faces/s of the model's forward pass alone (eval mode, no gradients, the run's precision) on resident
    inputs."""
    b, s = config.train.eval_batch_size, config.data.image_size
    precision = precision_for(device, config.train.amp, config.train.cpu_amp)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(b, 3, s, s, generator=generator).to(device)
    if precision.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    landmarks = (torch.rand(b, 68, 3, generator=generator) * torch.tensor([0.6 * s, 0.6 * s, 1.0])
                 + torch.tensor([0.2 * s, 0.2 * s, 0.0])).to(device)
    model.eval()
    with torch.no_grad(), autocast_for(device, precision):
        model(images, landmarks)
        started = time.perf_counter()
        for _ in range(batches):
            model(images, landmarks)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return b * batches / (time.perf_counter() - started)


def scoring_rates(model: torch.nn.Module, config: RunConfig, column: Column, device: torch.device,
                  forward: float) -> dict[str, Any]:
    """The column scored twice as ``evaluate`` scores it (wall faces/s): first, then reopened."""
    adapter, split = open_column(config, column)
    out: dict[str, Any] = {"column": column.name, "dataset": adapter.name, "split": split}
    for when in ("first", "again"):
        source = open_split_fresh(adapter, config, split, forget=when == "first")
        started = time.perf_counter()
        predict(model, source, device=device, batch_size=config.train.eval_batch_size,
                precision=precision_for(device, config.train.amp, config.train.cpu_amp),
                num_workers=config.data.num_workers, progress=False)
        out[f"{when}_faces_per_s"] = len(source) / (time.perf_counter() - started)
        out[f"{when}_over_forward"] = out[f"{when}_faces_per_s"] / forward
        out["faces"] = len(source)
    return out


def column_read_costs(config: RunConfig, column: Column, batches: int) -> dict[str, float]:
    """CPU ms per face of reading the column's faces as evaluation reads them: the whole split the first time
    (what is made once is made for all of it), then ``batches`` batches of it reopened."""
    adapter, split = open_column(config, column)
    costs = {}
    for when, count in (("first", None), ("again", batches)):
        source = open_split_fresh(adapter, config, split, forget=when == "first")
        costs[f"read a test face of {column.name!r}, {when}"] = cpu_ms_per_face(
            read_batches(source, config, count, train=False))
    return costs
