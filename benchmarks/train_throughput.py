"""Training-step throughput of OADN against its own backbone (the GAP baseline), in images per second.

DESIGN.md's anchor: on one H100 (bf16, channels_last, batch 128, 224 px) the OADN heads should cost well under
1% of the backbone, so OADN's img/s should sit close to the baseline's. Prints one line per method; on CUDA also
the peak memory. Run e.g.:

    python benchmarks/train_throughput.py --backbone resnet50 --image-size 224 --batch-size 128   # GPU
    python benchmarks/train_throughput.py --backbone cnn-tiny --image-size 64 --batch-size 64     # CPU
"""

from __future__ import annotations

import argparse
import time

import torch

from oadn.config import ModelConfig
from oadn.engine.evaluate import autocast_for
from oadn.models import create_model


def measure(method: str, args: argparse.Namespace, device: torch.device) -> tuple[float, float | None]:
    model = create_model(ModelConfig(name=method, backbone=args.backbone), 7, args.image_size).to(device)
    channels_last = device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    landmarks = torch.rand(args.batch_size, 68, 3, device=device) * torch.tensor(
        [args.image_size, args.image_size, 1.0], device=device
    )
    labels = torch.randint(0, 7, (args.batch_size,), device=device)

    def step() -> None:
        with autocast_for(device, amp=True):
            outputs = model(images, landmarks)
        loss, _ = model.loss(outputs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    return args.steps * args.batch_size / seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else torch.get_num_threads()} "
          f"{'' if device.type == 'cuda' else 'threads'}), backbone {args.backbone}, {args.image_size} px, "
          f"batch {args.batch_size}, {args.steps} timed steps")
    results = {}
    for method in ("baseline", "oadn"):
        rate, peak = measure(method, args, device)
        results[method] = rate
        memory = f", peak {peak:.2f} GiB" if peak is not None else ""
        print(f"{method:9s} {rate:9.1f} img/s{memory}")
    print(f"oadn / baseline: {results['oadn'] / results['baseline']:.3f}")


if __name__ == "__main__":
    main()
