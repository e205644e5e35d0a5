"""Images per second of the synthetic data set on one core, per resolution, clean and occluded.

Run: ``.venv/bin/python benchmarks/synthetic_speed.py [--count N] [--sizes 64 112 ...]``. Reports CPU time per
process (so a busy machine inflates it less than wall time) and wall time.
"""

from __future__ import annotations

import argparse
import time

from oadn.data.synthetic import SyntheticFaces


def images_per_second(image_size: int, occlusion: float, count: int) -> tuple[float, float]:
    """(CPU-time, wall-time) images per second drawing ``count`` training items at ``image_size``."""
    source = SyntheticFaces("train", count + 1, image_size, seed=0, occlusion=occlusion)
    source[count]  # warm caches (noise bank) outside the timed loop
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        source[i]
    return count / (time.process_time() - cpu), count / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 112, 224])
    args = parser.parse_args()
    print(f"{'size':>5} {'occlusion':>9} {'img/s (cpu)':>12} {'img/s (wall)':>13}")
    for size in args.sizes:
        for occlusion in (0.0, 0.5, 1.0):
            cpu, wall = images_per_second(size, occlusion, args.count)
            print(f"{size:>5} {occlusion:>9.1f} {cpu:>12.0f} {wall:>13.0f}")


if __name__ == "__main__":
    main()
