"""``oadn-bench bench``: where a training step's time goes, measured side by side in one process.

- step: a full training step (forward, backward, SGD update) on device-resident inputs, in images/s and peak
  memory, for the bare backbone's GAP classifier and for OADN on the same backbone, batch and precision (the
  run's: :func:`oadn.engine.device.precision_for`), eager and ``torch.compile``d (in each ``--compile-mode`` asked for:
  ``reduce-overhead`` replays the step's kernels as CUDA graphs, which takes the host's launch time out of a
  host-bound step). Methods alternate order over repeats and the median is reported, so the OADN/backbone ratio
  does not drift with clocks or allocator state.
- input: the input pipeline alone (source -> decoded, aligned, flipped, batched, on the device) with the
  configured loader workers.
- loop: the training loop (loader + OADN step) for a number of steps; loop/step < 1 means the loader stalls
  the device (the time the training thread waited for data is reported beside it).
- attention: rendering the 24 interest points' attention maps alone.
- with ``--profile DIR``: a torch.profiler table per mode and method (heaviest operators and kernels first).

The run configuration (``-c``/``--set``, as ``train`` takes them) chooses data, backbone, input size, batch and
workers. Peak memory is per method: its own weights, gradients, optimiser state and activations at the peak
(what was allocated before its steps, other than its weights and optimiser state, is subtracted: the other
model and the fixed input batches).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from rich.table import Table
from torch.profiler import ProfilerActivity, profile

from oadn.config import COMPILE_MODES, ModelConfig
from oadn.data.geometry import attention_maps, face_found, interest_point_indices, interest_points, kept_points
from oadn.data.ibug68 import NUM_LANDMARKS
from oadn.engine.bench_costs import (
    Column,
    column_read_costs,
    cpu_ms_per_face,
    forward_rate,
    read_batches,
    scoring_rates,
)
from oadn.engine.compiling import compile_step, step_begins
from oadn.engine.device import autocast_for, fast_layout, precision_for, resolve_device
from oadn.engine.loader import make_loader, resolve_workers, to_device, training_targets
from oadn.engine.splits import open_data_split, open_splits
from oadn.models import create_model
from oadn.models.backbones import create_backbone, input_normalisation
from oadn.models.oadn import OADNOptions

#: the methods every bench measures: the backbone's GAP classifier and OADN on it (others join with --method)
METHODS = ("baseline", "oadn")


def check_compile_modes(modes: Sequence[str]) -> Sequence[str]:
    """``modes`` when torch.compile knows each of them; else a ValueError naming the unknown ones."""
    unknown = sorted(set(modes) - set(COMPILE_MODES))
    if unknown:
        raise ValueError(f"unknown torch.compile mode {', '.join(unknown)}; choose from {', '.join(COMPILE_MODES)}")
    return modes


def mode_name(compile_mode: str | None) -> str:
    """How a measurement's mode is named in the table and JSON: eager, compiled, compiled:<mode>."""
    if compile_mode is None:
        return "eager"
    return "compiled" if compile_mode == "default" else f"compiled:{compile_mode}"


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device, run: Callable[[], None], count: int) -> float:
    """Seconds for ``count`` calls of ``run``, the device drained before and after."""
    _sync(device)
    started = time.perf_counter()
    for _ in range(count):
        run()
    _sync(device)
    return time.perf_counter() - started


def _resident_bytes(model, optimizer) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    tensors += [t for state in optimizer.state.values() for t in state.values() if hasattr(t, "nbytes")]
    return sum(t.nbytes for t in tensors if t.device.type == "cuda")


class StepBench:
    """One method's model, optimiser and training step on fixed device inputs (eager, or compiled in a
    torch.compile mode)."""

    def __init__(self, method: str, config, num_classes: int, device, compile_mode: str | None):

        self.device, self.label_smoothing = device, config.train.label_smoothing
        self.precision = precision_for(device, config.train.amp, config.train.cpu_amp)
        model_config = ModelConfig(name=method, backbone=config.model.backbone, pretrained=config.model.pretrained)
        self.model = create_model(model_config, num_classes, config.data.image_size).to(device)
        channels_last = fast_layout(self.model, self.precision)
        self.mode = compile_mode
        self.forward, self.loss = compile_step(self.model, self.model.loss, compile_mode)  # as training does
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        self._autocast = autocast_for
        b, s = config.train.batch_size, config.data.image_size
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(b, 3, s, s, generator=generator).to(device)
        if channels_last:
            self.images = self.images.contiguous(memory_format=torch.channels_last)
        points = (torch.rand(b, NUM_LANDMARKS, 3, generator=generator) * torch.tensor([0.6 * s, 0.6 * s, 1.0])
                  + torch.tensor([0.2 * s, 0.2 * s, 0.0]))
        self.landmarks = points.to(device)
        self.targets = torch.randint(0, num_classes, (b,), generator=generator).to(device)

    def step(self, images=None, landmarks=None, targets=None) -> None:
        self.model.train()
        step_begins(self.mode)
        with self._autocast(self.device, self.precision):
            outputs = self.forward(self.images if images is None else images,
                                   self.landmarks if landmarks is None else landmarks)
        loss, _ = self.loss(outputs, self.targets if targets is None else targets, self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def measure_steps(benches: dict[str, StepBench], mode: str, device, batch: int, steps: int, warmup: int,
                  repeats: int) -> list[dict]:
    """Median img/s, peak memory and warm-up (compile) time per method, methods alternating order."""
    rows = []
    methods = tuple(benches)
    warm = {m: _timed(device, benches[m].step, warmup) for m in methods}
    for m in methods:  # the optimiser's momentum buffers exist from here on
        benches[m].resident = _resident_bytes(benches[m].model, benches[m].optimizer)
    rates: dict[str, list[float]] = {m: [] for m in methods}
    peaks: dict[str, float] = {m: 0.0 for m in methods}
    for r in range(repeats):
        for m in methods if r % 2 == 0 else methods[::-1]:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                others = torch.cuda.memory_allocated(device) - benches[m].resident
            rates[m].append(batch * steps / _timed(device, benches[m].step, steps))
            if device.type == "cuda":
                peaks[m] = max(peaks[m], (torch.cuda.max_memory_allocated(device) - others) / 2**30)
    for m in methods:
        rows.append({
            "mode": mode, "method": m, "img_per_s": statistics.median(rates[m]), "runs": rates[m],
            "peak_gib": peaks[m] if device.type == "cuda" else None, "warmup_s": warm[m],
        })
    return rows


def _batches(loader):
    """Training batches without end, epoch after epoch, as training reads them."""
    epoch = 0
    while True:
        yield from loader.epoch(epoch)
        epoch += 1


def measure_input_and_loop(config, train_source, bench: StepBench, device, mode: str, steps: int, warmup: int) -> dict:
    """Input pipeline alone, then loader + ``bench``'s step, for ``steps`` batches each, after ``warmup``."""
    loader = make_loader(
        train_source, batch_size=config.train.batch_size, train=True, seed=config.train.seed,
        num_workers=config.data.num_workers, target_mode="hard",
    )
    normalisation = input_normalisation(bench.model.backbone)
    channels_last = bench.precision.channels_last
    batches = _batches(loader)

    moved: list[int] = []  # bytes of faces per batch, as the loader hands them over

    def run(count: int, train: bool) -> tuple[float, float]:
        """Images/s, and the mean milliseconds per batch the training thread waited for the loader."""
        seen, waited = 0, 0.0
        _sync(device)
        started = time.perf_counter()
        for _ in range(count):
            asked = time.perf_counter()
            batch = next(batches)
            waited += time.perf_counter() - asked
            moved.append(batch["image"].nbytes)
            images, landmarks = to_device(batch, device, channels_last, normalisation)
            targets = training_targets(batch, device)
            seen += batch["size"]
            if train:
                bench.step(images, landmarks, targets)
        _sync(device)
        return seen / (time.perf_counter() - started), 1e3 * waited / count

    run(warmup, train=True)  # workers started, model compiled
    input_rate, _ = run(steps, train=False)
    loop_rate, wait_ms = run(steps, train=True)
    loader.close()
    return {"workers": resolve_workers(config.data.num_workers), "input_img_per_s": input_rate,
            "loop_img_per_s": loop_rate, "loop_data_wait_ms": wait_ms, "image_mb_per_batch": max(moved) / 2**20,
            "mode": mode}


def measure_attention(config, device, steps: int) -> float:
    """Faces per second for interest points + attention maps at the backbone's feature resolution."""
    backbone = create_backbone(config.model.backbone)
    side = -(-config.data.image_size // backbone.stride)
    b, s = config.train.batch_size, config.data.image_size
    landmarks = (torch.rand(b, NUM_LANDMARKS, 3) * torch.tensor([s, s, 1.0])).to(device)
    indices = interest_point_indices().to(device)  # as the model keeps them: no host copy per render

    options = config.model.options if config.model.name == "oadn" else OADNOptions()  # OADN's maps, at its T, sigma

    def render() -> None:
        points = interest_points(landmarks, s, indices)
        kept = kept_points(points, options.threshold, face_found(landmarks))
        attention_maps(points, kept, (side, side), backbone.grid, options.sigma)

    render()
    return b * steps / _timed(device, render, steps)


def profile_steps(bench: StepBench, device, steps: int, path: Path) -> None:
    """A torch.profiler table of ``steps`` training steps, heaviest operators and kernels first (device time on
    CUDA, host time on a CPU), written to ``path``: where OADN's extra time goes, operator by operator."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        seconds = _timed(device, bench.step, steps)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = profiler.key_averages().table(sort_by=sort, row_limit=30, max_name_column_width=70)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{steps} steps, {1e3 * seconds / steps:.2f} ms a step while profiled\n{table}\n")


def measure_stage_costs(config, adapter, train_source, benches: dict[str, StepBench], columns: Sequence[Column],
                        batches: int) -> dict[str, float]:
    """CPU ms per face of each stage on one thread (:mod:`oadn.engine.bench_costs`): reading training faces as
    configured and without occluders, each method's training step, OADN's forward pass, each column's faces."""
    costs = {"read a training face": cpu_ms_per_face(read_batches(train_source, config, batches, train=True),
                                                     warm=True)}
    base = adapter.unoccluded()
    if base is not None:
        base_source = open_data_split(base, config.data, config.data.train_split)
        costs["read a training face, no occluder"] = cpu_ms_per_face(
            read_batches(base_source, config, batches, train=True), warm=True)
    faces = config.train.batch_size * batches

    def steps(bench: StepBench) -> Callable[[], int]:
        def work() -> int:
            for _ in range(batches):
                bench.step()
            return faces
        return work

    for method, bench in benches.items():
        costs[f"{method} training step"] = cpu_ms_per_face(steps(bench))
    oadn = benches["oadn"]

    def forward() -> int:
        oadn.model.eval()
        with torch.no_grad(), autocast_for(oadn.device, oadn.precision):
            for _ in range(batches):
                oadn.model(oadn.images, oadn.landmarks)
        oadn.model.train()
        return faces

    costs["oadn forward"] = cpu_ms_per_face(forward)
    for column in columns:
        costs.update(column_read_costs(config, column, batches))
    return costs


def run_bench(
    config, *, steps: int, warmup: int, repeats: int, loop_steps: int, compile_modes: Sequence[str] = (),
    profile_dir: Path | None = None, methods: Sequence[str] = (), columns: Sequence[Column] = (),
    cost_batches: int = 4,
) -> dict[str, Any]:
    """Every measurement, as a JSON-ready dict: eager, then compiled in each of ``compile_modes``; with
    ``profile_dir``, a profiler table per mode and method. ``methods`` join the baseline and OADN in the step
    figures; ``columns`` (default: the run's first test split) are scored and read for the scoring figures;
    ``cost_batches`` batches time each stage's CPU cost."""
    device = resolve_device(config.train.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    adapter, train_source, _ = open_splits(config)
    num_classes = len(adapter.classes)
    check_compile_modes(compile_modes)
    compile_by_mode = {mode_name(m): m for m in (None, *dict.fromkeys(compile_modes))}
    every_method = tuple(dict.fromkeys((*METHODS, *methods)))
    columns = list(columns) or [Column(name="test split")]
    modes = list(compile_by_mode)
    step_rows, loops = [], []
    errors = {}
    costs: dict[str, float] = {}
    scoring: list[dict[str, Any]] = []
    forward = 0.0
    for mode, compile_mode in compile_by_mode.items():  # the loop reuses the measured (and compiled) OADN step
        benches = {m: StepBench(m, config, num_classes, device, compile_mode) for m in every_method}
        try:
            step_rows += measure_steps(benches, mode, device, config.train.batch_size, steps, warmup, repeats)
            for method, bench in benches.items() if profile_dir is not None else ():
                profile_steps(bench, device, steps, profile_dir / f"{mode}_{method}.txt")
            loops.append(measure_input_and_loop(config, train_source, benches["oadn"],
                                                device, mode, loop_steps, warmup))
            if mode == "eager":
                forward = forward_rate(benches["oadn"].model, config, device, steps)
                scoring = [scoring_rates(benches["oadn"].model, config, c, device, forward) for c in columns]
                costs = measure_stage_costs(config, adapter, train_source, benches, columns, cost_batches)
        except Exception as error:  # a compiler failure must not cost the eager figures; it is reported
            if mode == "eager":
                raise
            errors[mode] = f"{type(error).__name__}: {error}"
            modes = [m for m in modes if m != mode]
        del benches
        if device.type == "cuda":
            torch.cuda.empty_cache()
    rate = {(r["mode"], r["method"]): r for r in step_rows}
    ratios = {}
    for mode in modes:
        base, oadn = rate[(mode, "baseline")], rate[(mode, "oadn")]
        loop = next(item for item in loops if item["mode"] == mode)
        ratios[mode] = {
            "oadn_over_backbone_rate": oadn["img_per_s"] / base["img_per_s"],
            "oadn_over_backbone_memory": oadn["peak_gib"] / base["peak_gib"] if base["peak_gib"] else None,
            "loop_over_step": loop["loop_img_per_s"] / oadn["img_per_s"],
            **{f"{m}_over_backbone_rate": rate[(mode, m)]["img_per_s"] / base["img_per_s"]
               for m in every_method if m not in METHODS},
        }
    return {
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"cpu ({torch.get_num_threads()} threads)"),
        "torch": torch.__version__,
        "settings": {
            "data": config.data.name, "data_options": config.data.options, "backbone": config.model.backbone,
            "image_size": config.data.image_size, "batch_size": config.train.batch_size,
            "precision": precision_for(device, config.train.amp, config.train.cpu_amp).describe(),
            "steps": steps, "warmup": warmup, "repeats": repeats,
            "loop_steps": loop_steps, "modes": modes, "methods": list(every_method), "cost_batches": cost_batches,
        },
        "step": step_rows,
        "loop": loops,
        "attention_faces_per_s": measure_attention(config, device, steps),
        "ratios": ratios,
        "forward_faces_per_s": forward,
        "scoring": scoring,
        "cpu_ms_per_face": costs,
        "errors": errors,
    }


def results_tables(results: dict[str, Any]) -> list[Table]:
    """The tables ``bench`` prints: throughput and ratios, then each stage's CPU cost per face."""
    settings = results["settings"]
    table = Table(title=f"{results['device']}, torch {results['torch']}: "
                        f"{settings['backbone']} {settings['image_size']} px, "
                        f"batch {settings['batch_size']}, {settings['precision']}")
    for column in ("measurement", "mode", "img/s", "peak GiB", "ratio"):
        table.add_column(column, justify="left" if column in ("measurement", "mode") else "right", overflow="fold")
    for row in results["step"]:
        peak = f"{row['peak_gib']:.2f}" if row["peak_gib"] is not None else "-"
        table.add_row(f"{row['method']} step", row["mode"], f"{row['img_per_s']:,.1f}", peak, "")
    for mode, ratio in results["ratios"].items():
        memory = ratio["oadn_over_backbone_memory"]
        table.add_row("OADN / backbone", mode, f"{ratio['oadn_over_backbone_rate']:.3f}",
                      f"{memory:.3f}" if memory else "-", "")
        for key, value in ratio.items():
            if key.endswith("_over_backbone_rate") and not key.startswith("oadn_"):
                table.add_row(f"{key.removesuffix('_over_backbone_rate')} / backbone", mode, f"{value:.3f}", "-", "")
    for loop in results["loop"]:
        table.add_row(f"input pipeline ({loop['workers']} workers)", loop["mode"], f"{loop['input_img_per_s']:,.1f}",
                      "-", f"{loop['image_mb_per_batch']:.2f} MB faces/batch")
        table.add_row("loop (loader + OADN step)", loop["mode"], f"{loop['loop_img_per_s']:,.1f}", "-",
                      f"{results['ratios'][loop['mode']]['loop_over_step']:.3f} of step")
        table.add_row("  of it, data wait", loop["mode"], f"{loop['loop_data_wait_ms']:.2f} ms/batch", "-", "")
    for column in results["scoring"]:
        for when in ("first", "again"):
            table.add_row(f"scoring {column['column']}, {when}", "eager", f"{column[f'{when}_faces_per_s']:,.1f}",
                          "-", f"{column[f'{when}_over_forward']:.3f} of forward")
    table.add_row("attention maps alone", "eager", f"{results['attention_faces_per_s']:,.1f}", "-", "")
    for mode, error in results["errors"].items():
        table.add_row(f"[red]{mode} failed[/]", mode, "-", "-", error[:80])
    costs = Table(title="CPU ms per face, one thread (process time)")
    costs.add_column("stage", overflow="fold")
    costs.add_column("ms", justify="right")
    for stage, ms in results["cpu_ms_per_face"].items():
        costs.add_row(stage, f"{ms:.3f}")
    return [table, costs]
