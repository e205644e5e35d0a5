"""The load report of each face-recognition backbone, on files in the published formats and at the published shapes
with random values (for a machine that cannot download the real ones), placed in an empty torch hub cache:
VGGFace2's ``resnet50_ft_weight.pkl`` (a pickle of a dict of numpy arrays, with the 8,631-identity classifier) and
facenet-pytorch's ``20180402-114759-vggface2.pt`` (a state dict with its classifier). Prints the load report
loading prints, each backbone's input normalisation and cell grid, and its feature map at 112, 160 and 224 px.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/face_weights_report.py

Not a test: with the real files in ``$TORCH_HOME/hub/checkpoints`` the same commands load those (pass
``--real`` to skip writing the random ones and use an existing ``$TORCH_HOME``).
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import time

if "--real" not in sys.argv:
    os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="face-weights-report-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from oadn.common.downloads import hub_checkpoints  # noqa: E402
from oadn.models.backbones import create_backbone, input_normalisation  # noqa: E402
from oadn.models.face_backbones import caffe_resnet50  # noqa: E402

IDENTITIES = 8631


def write_random_files() -> None:
    folder = hub_checkpoints()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    state = {name: rng.normal(0, 0.01, tuple(value.shape)).astype(np.float32)
             for name, value in caffe_resnet50().state_dict().items() if not name.endswith("num_batches_tracked")}
    state["fc.weight"] = np.zeros((IDENTITIES, 2048), np.float32)
    state["fc.bias"] = np.zeros(IDENTITIES, np.float32)
    with open(folder / "resnet50_ft_weight.pkl", "wb") as handle:
        pickle.dump(state, handle, protocol=2)
    from facenet_pytorch import InceptionResnetV1

    torch.save(InceptionResnetV1(classify=True, num_classes=IDENTITIES).state_dict(),
               folder / "20180402-114759-vggface2.pt")
    print(f"random-valued files in the published formats written to {folder}")


def main() -> None:
    if "--real" not in sys.argv:
        write_random_files()
    for name in ("resnet50", "inception-resnet-v1"):
        start = time.perf_counter()
        backbone = create_backbone(name, "vggface2")  # prints its load report
        mean, std = input_normalisation(backbone.module)
        print(f"  -> {name}: built and loaded in {time.perf_counter() - start:.1f} s; stride {backbone.stride}, "
              f"cell j centred at {backbone.grid.stride} j + {backbone.grid.offset:g} px; loader (x - mean) / std on "
              f"0..1 RGB with mean {tuple(round(m, 4) for m in mean)}, std {tuple(round(s, 5) for s in std)}")
        with torch.no_grad():
            for size in (112, 160, 224):
                shape = tuple(backbone.module.eval()(torch.zeros(1, 3, size, size)).shape[1:])
                print(f"     feature map at {size} px: {shape}; preflight's side {backbone.feature_side(size)}")


if __name__ == "__main__":
    main()
