"""How large the attention branch's input is beside the region branch's, under each ``model.lab_pooling``.

For OADN with cnn-tiny at 48, 96 and 112 px (6, 12 and 14 feature cells), on synthetic test faces, with the
backbone's random initialisation: the mean L2 norm of the attention branch's pooled feature (the max over kept
points) over the mean norm of one region's pooled feature. Mean pooling divides by every cell, so its ratio
falls with the map's area; weighted pooling divides by the map's mass.

    python benchmarks/branch_balance.py [--faces 256]
"""

from __future__ import annotations

import argparse

import torch

from oadn.config import ModelConfig
from oadn.data.registry import get_dataset
from oadn.engine.loader import make_loader, to_device
from oadn.models import create_model
from oadn.models.backbones import input_normalisation


def ratio(pooling: str, image_size: int, faces: int) -> tuple[int, float]:
    torch.manual_seed(0)
    model = create_model(ModelConfig(name="oadn", backbone="cnn-tiny", lab_pooling=pooling), 7, image_size).eval()
    source = get_dataset("synthetic", test_size=faces).open_split("test_clean", image_size=image_size)
    loader = make_loader(source, batch_size=faces, train=False, seed=0)
    batch = next(iter(loader))
    images, landmarks = to_device(batch, torch.device("cpu"), False, input_normalisation(model.backbone))
    with torch.no_grad():
        features = model.backbone(images)
        per_point, regions, kept = model.pool(features, landmarks)
        attended, valid = model.max_over_kept(per_point, kept)
    return features.shape[-1], float(attended[valid].norm(dim=-1).mean() / regions.norm(dim=-1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=256)
    args = parser.parse_args()
    print("cells  mean   weighted   (attention input norm / region input norm)")
    for size in (48, 96, 112):
        cells, mean = ratio("mean", size, args.faces)
        _, weighted = ratio("weighted", size, args.faces)
        print(f"{cells:>5}  {mean:.3f}  {weighted:.3f}")


if __name__ == "__main__":
    main()
