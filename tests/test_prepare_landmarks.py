"""Landmark backends: FAN's real code path with random weights, the offline error, dlib on a real face, files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from oadn.data.aligned_frame import apply_transform, warp_image
from oadn.data.landmarks import LandmarkBackendError, make_backend
from oadn.data.landmarks.base import canonical_spec
from oadn.data.landmarks.fan import CHECKPOINT_NAMES
from oadn.data.landmarks.fan_net import FAN
from oadn.preprocess.alignment import MtcnnDetector, similarity_transform, template_points


class _LastStack(torch.nn.Module):
    """What face-alignment's TorchScript archives compute: the last stack's heatmaps only."""

    def __init__(self, fan: FAN):
        super().__init__()
        self.fan = fan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fan(x)[-1]


@pytest.fixture(scope="module")
def astronaut_aligned() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face aligned at 224 by MTCNN, and its face box in that frame."""
    data = pytest.importorskip("skimage.data")
    image = data.astronaut()
    box, five = MtcnnDetector().detect([image])[0]
    matrix = similarity_transform(five, template_points(224))
    corners = apply_transform(matrix, np.array([[box[0], box[1]], [box[2], box[3]]]))
    return warp_image(image, matrix, 224), corners.reshape(4).astype(np.float64)


def _write_random_fan(torch_home, fmt: str) -> None:
    torch.manual_seed(0)
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    fan = FAN(num_modules=1).eval()
    if fmt == "torchscript":
        # fully convolutional: a small example input traces the same graph, and quickly
        traced = torch.jit.trace(_LastStack(fan), torch.rand(1, 3, 64, 64), check_trace=False)
        traced.save(str(checkpoints / CHECKPOINT_NAMES[0]))
    else:
        torch.save(fan.state_dict(), checkpoints / CHECKPOINT_NAMES[1])


@pytest.mark.parametrize("fmt", ["torchscript", "state_dict"])
def test_fan_random_weights_from_torch_home(tmp_path, monkeypatch, astronaut_aligned, fmt):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _write_random_fan(tmp_path, fmt)
    backend = make_backend("fan")
    assert backend.provides_scores and "heatmap" in backend.description
    image, box = astronaut_aligned
    if fmt == "state_dict":  # the loader path differs; the forward is the one checked below
        ((points, _),) = backend.predict(image[None], [box])
        assert points.shape == (68, 3) and ((points[:, 2] >= 0) & (points[:, 2] <= 1)).all()
        return
    images = np.stack([image, image[:, ::-1]])
    batch = backend.predict(images, [box, None])
    assert len(batch) == 2
    for points, _ in batch:
        assert points.shape == (68, 3) and points.dtype == np.float32
        assert ((points[:, 2] >= 0) & (points[:, 2] <= 1)).all()
        assert np.isfinite(points).all()
    # batching does not change an image's result
    backend.batch_size = 1  # forward passes of one image each
    for (one, _), (together, _) in zip(backend.predict(images, [box, None]), batch):
        np.testing.assert_allclose(one, together, atol=1e-4)


def test_fan_without_weights_fails_at_once_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(LandmarkBackendError) as err:
        make_backend("fan")
    expected = tmp_path / "hub" / "checkpoints" / CHECKPOINT_NAMES[0]
    assert str(expected) in str(err.value) and "--fan-weights" in str(err.value)
    with pytest.raises(LandmarkBackendError, match="not found"):
        make_backend("fan", fan_weights=tmp_path / "missing.zip")


def test_dlib_on_the_astronaut(astronaut_aligned):
    pytest.importorskip("dlib", reason="dlib not installed (pip install 'oadn-bench[dlib]')")
    backend = make_backend("dlib")
    assert not backend.provides_scores and "no scores (all 1.0)" in backend.description
    image, box = astronaut_aligned
    ((points, note),) = backend.predict(image[None], [box])
    assert points.shape == (68, 3) and (points[:, 2] == 1.0).all()
    margin = 0.15 * (box[2] - box[0])
    inside = (
        (points[:, 0] > box[0] - margin) & (points[:, 0] < box[2] + margin)
        & (points[:, 1] > box[1] - margin) & (points[:, 1] < box[3] + margin)
    )
    assert inside.all(), f"points outside the face box {box}: {points[~inside, :2]}"
    # eyes above the nose tip above the mouth, left eye left of the right one
    assert points[36:42, 1].mean() < points[30, 1] < points[48:68, 1].mean()
    assert points[36:42, 0].mean() < points[42:48, 0].mean()


def test_file_backend_reads_csv_npz_and_a_trusted_pickle(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 40, size=(2, 68, 3)).astype(np.float32)
    points[..., 2] = rng.uniform(0, 1, size=(2, 68))
    frame = pd.DataFrame({"name": ["a.png", "b"]})
    for k, axis in enumerate("xys"):
        frame = pd.concat([frame, pd.DataFrame(points[..., k], columns=[f"{axis}{i}" for i in range(68)])], axis=1)
    frame.to_csv(tmp_path / "lm.csv", index=False)
    with open(tmp_path / "lm.pkl", "wb") as fh:
        pickle.dump({"a.png": points[0].T, "b": points[1].T}, fh)
    np.savez(tmp_path / "lm.npz", **{"a.png": points[0].T, "b": points[1]})
    rows = pd.DataFrame({"image_id": ["x/a.png", "b.jpg", "c"], "path": ["/d/a.png", "/d/b.jpg", "/d/c.png"]})
    for name in ("lm.csv", "lm.npz", "lm.pkl?trust_pickle=1"):
        backend = make_backend(f"file:{tmp_path / name}")
        found = backend.lookup(rows)
        np.testing.assert_allclose(found[0], points[0], atol=1e-5)  # by file name
        np.testing.assert_allclose(found[1], points[1], atol=1e-5)  # by stem
        assert found[2] is None
    with pytest.raises(LandmarkBackendError, match="missing columns"):
        pd.DataFrame({"name": ["a"]}).to_csv(tmp_path / "bad.csv", index=False)
        make_backend(f"file:{tmp_path / 'bad.csv'}")


class _Payload:
    """Unpickling this object calls ``ran.append`` on the module-level list: a stand-in for running code."""

    def __reduce__(self):
        return (RAN.append, ("payload ran",))


RAN: list[str] = []


def test_file_backend_refuses_a_pickle_unless_trusted_and_an_npz_of_objects(tmp_path):
    with open(tmp_path / "lm.pkl", "wb") as fh:
        pickle.dump({"a.png": _Payload()}, fh)
    with pytest.raises(LandmarkBackendError, match=r"refused: a pickle file runs any code.*trust_pickle=1"):
        make_backend(f"file:{tmp_path / 'lm.pkl'}")
    assert RAN == []
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(LandmarkBackendError, match="not a plain NPZ"):
        make_backend(f"file:{tmp_path / 'objects.npz'}")
    with pytest.raises(LandmarkBackendError, match="unknown flag"):
        make_backend(f"file:{tmp_path / 'lm.pkl'}?trust=yes")
    assert canonical_spec("file:lm.pkl?trust_pickle=1") == f"file:{Path('lm.pkl').resolve()}?trust_pickle=1"


def test_fan_weights_download_into_the_torch_hub_cache_when_online(tmp_path, monkeypatch):
    import oadn.data.landmarks.fan as fan_module

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    target = tmp_path / "hub" / "checkpoints" / CHECKPOINT_NAMES[0]
    calls = []

    def failing(url, path):
        calls.append((url, path))
        raise OSError("network unreachable")

    monkeypatch.setattr(fan_module, "download", failing)
    with pytest.raises(LandmarkBackendError) as err:
        make_backend("fan")
    assert calls == [("https://www.adrianbulat.com/downloads/python-fan/2DFAN4-cd938726ad.zip", target)]
    assert "download of https://www.adrianbulat.com" in str(err.value) and "network unreachable" in str(err.value)
    assert str(target.parent) in str(err.value)

    def fake_download(url, path):  # what a successful download leaves: the file at the cache path
        _write_random_fan(tmp_path, "torchscript")
        return path

    monkeypatch.setattr(fan_module, "download", fake_download)
    assert "2DFAN4-cd938726ad.zip" in make_backend("fan").description
    monkeypatch.setattr(fan_module, "download", failing)  # now cached: no second download
    calls.clear()
    make_backend("fan")
    assert calls == []


def test_fan_offline_never_downloads_and_names_file_and_folder(tmp_path, monkeypatch):
    import oadn.data.landmarks.fan as fan_module

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(fan_module, "download", lambda url, path: pytest.fail("downloaded while offline"))
    with pytest.raises(LandmarkBackendError, match="downloads are off") as err:
        make_backend("fan")
    assert str(tmp_path / "hub" / "checkpoints") in str(err.value) and CHECKPOINT_NAMES[0] in str(err.value)
