"""Face-recognition pre-training: the published formats (a pickle of numpy arrays, torch state dicts under
torchvision's or Caffe's names), written by the tests with random weights and pre-placed in the torch hub cache,
loaded with every name and shape checked, the right normalisation, and named errors offline."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from oadn.common.downloads import hub_checkpoints
from oadn.common.safe_pickle import UnsafePickleError, load_array_pickle
from oadn.config import ModelConfig
from oadn.engine.loader import to_device
from oadn.models import create_model
from oadn.models.backbones import create_backbone, input_normalisation
from oadn.models.face_backbones import CAFFE_NORMALISATION, FACENET_NORMALISATION, caffe_resnet50
from oadn.models.face_weights import PUBLISHED, torchvision_names
from oadn.models.pretrained import PretrainedWeightsError, pretraining_tag
from oadn.models.receptive_field import cell_centroid
from oadn.report.summary import pretraining_label

#: the identity classifier's width is 8631 in the real file; a narrow one keeps the test file small
IDENTITIES = 7


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "torch"


def _caffe_state(seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights for every tensor the Caffe ResNet-50 has, as cydonia999's pickle holds them."""
    generator = torch.Generator().manual_seed(seed)
    state = {name: torch.randn(tensor.shape, generator=generator).numpy() * 0.01
             for name, tensor in caffe_resnet50().state_dict().items() if not name.endswith("num_batches_tracked")}
    for name in [n for n in state if n.endswith("running_var")]:
        state[name] = np.abs(state[name]) + 1.0
    state["fc.weight"] = np.zeros((IDENTITIES, 2048), np.float32)
    state["fc.bias"] = np.zeros(IDENTITIES, np.float32)
    return state


def _write_pickle(state: dict[str, np.ndarray], path: Path, protocol: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(state, handle, protocol=protocol)
    return path


def test_the_vggface2_pickle_in_the_hub_cache_loads_into_the_caffe_resnet50_with_bgr_normalisation(torch_home):
    state = _caffe_state()
    _write_pickle(state, hub_checkpoints() / "resnet50_ft_weight.pkl")
    backbone = create_backbone("resnet50", "vggface2")
    loaded = backbone.module.model.state_dict()
    for name in ("conv1.weight", "layer3.5.bn3.running_var", "layer4.0.downsample.0.weight"):
        np.testing.assert_array_equal(loaded[name].numpy(), state[name])
    report = backbone.module.load_report
    assert report.not_loaded == {"fc.weight": [IDENTITIES, 2048], "fc.bias": [IDENTITIES]}
    assert report.loaded_tensors == len(state) - 2 and "BGR" in report.normalisation
    assert input_normalisation(backbone.module) == CAFFE_NORMALISATION
    # the loader's normalisation of RGB pixels on 0..1, then the backbone's own flip, is Caffe's input
    rgb = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    images, _ = to_device({"image": rgb, "landmarks": torch.zeros(1, 68, 3), "frame": 64}, torch.device("cpu"),
                          False, input_normalisation(backbone.module))
    caffe = rgb.float().flip(1) - torch.tensor([91.4953, 103.8827, 131.0912]).view(1, 3, 1, 1)
    torch.testing.assert_close(images.flip(1), caffe, rtol=0, atol=1e-3)
    model = backbone.module.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(images), model.model.forward_features(caffe))


def test_the_caffe_resnet50_keeps_shapes_moves_the_strides_and_its_cells_are_measured():
    model = caffe_resnet50()
    assert model.maxpool.padding == 0 and model.maxpool.ceil_mode
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].conv2.stride == (1, 1)
    assert model.layer1[0].conv1.stride == (1, 1)
    with torch.no_grad():
        assert model.eval().forward_features(torch.zeros(1, 3, 224, 224)).shape == (1, 2048, 7, 7)


def test_a_point_at_a_caffe_cells_centre_peaks_on_that_cell(torch_home):
    _write_pickle(_caffe_state(), hub_checkpoints() / "resnet50_ft_weight.pkl")
    backbone = create_backbone("resnet50", "vggface2")
    assert backbone.stride == 16 and backbone.grid.offset == pytest.approx(2.0, abs=0.1)
    x, y = cell_centroid(backbone.module, 192, (4, 7))
    assert abs(float(backbone.grid.cells(torch.tensor(x))) - 7) < 0.1
    assert abs(float(backbone.grid.cells(torch.tensor(y))) - 4) < 0.1
    with torch.no_grad():
        assert backbone.module.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 2048, 14, 14)


def test_caffe_layer_names_are_renamed_and_a_users_file_is_accepted(torch_home, tmp_path):
    state = {name: torch.from_numpy(array) for name, array in _caffe_state(1).items()}
    caffe = {}
    for name, tensor in state.items():  # S. Albanie's MatConvNet conversion names
        caffe[_caffe_name(name)] = tensor
    assert torchvision_names(caffe).keys() == state.keys()
    path = tmp_path / "resnet50_ft_dag.pth"
    torch.save(caffe, path)
    backbone = create_backbone("resnet50", f"vggface2:{path}")
    torch.testing.assert_close(backbone.module.model.state_dict()["layer2.3.conv2.weight"],
                               state["layer2.3.conv2.weight"])
    assert pretraining_tag(f"vggface2:{path}") == "vggface2" == pretraining_label(f"vggface2:{path}")
    with pytest.raises(PretrainedWeightsError, match="no such file"):
        create_backbone("resnet50", f"vggface2:{tmp_path / 'absent.pkl'}")


def _caffe_name(name: str) -> str:
    stem = {"conv1.weight": "conv1_7x7_s2.weight", "fc.weight": "classifier.weight", "fc.bias": "classifier.bias"}
    if name in stem:
        return stem[name]
    if name.startswith("bn1."):
        return "conv1_7x7_s2_bn." + name.removeprefix("bn1.")
    layer, block, module, *rest = name.split(".")
    if module == "downsample":
        kind, bn = "1x1_proj", rest.pop(0) == "1"
    else:
        kind = {"conv1": "1x1_reduce", "conv2": "3x3", "conv3": "1x1_increase",
                "bn1": "1x1_reduce", "bn2": "3x3", "bn3": "1x1_increase"}[module]
        bn = module.startswith("bn")
    return f"conv{int(layer[5:]) + 1}_{int(block) + 1}_{kind}{'_bn' if bn else ''}.{'.'.join(rest)}"


def test_weights_that_do_not_fit_are_refused_naming_the_layers(torch_home):
    state = _caffe_state()
    state["layer1.0.conv2.weight"] = state["layer1.0.conv2.weight"][:, :, :1, :1]
    del state["layer4.2.bn3.bias"]
    state["head.extra"] = np.zeros(3, np.float32)
    _write_pickle(state, hub_checkpoints() / "resnet50_ft_weight.pkl")
    with pytest.raises(PretrainedWeightsError) as caught:
        create_backbone("resnet50", "vggface2")
    message = str(caught.value)
    assert "resnet50_ft_weight.pkl" in message and "layer4.2.bn3.bias" in message and "head.extra" in message
    assert "layer1.0.conv2.weight (64, 64, 1, 1) (expected (64, 64, 3, 3))" in message


def test_a_pickle_that_names_code_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))

    path = tmp_path / "resnet50_ft_weight.pkl"
    path.write_bytes(pickle.dumps({"conv1.weight": Payload()}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"resnet50_ft_weight.pkl: refused: the pickle names os.makedirs"):
        load_array_pickle(path)
    assert not marker.exists()
    object_array = tmp_path / "objects.pkl"
    object_array.write_bytes(pickle.dumps({"w": np.array([1, "x"], dtype=object)}, protocol=2))
    with pytest.raises(UnsafePickleError, match="numeric numpy arrays"):
        load_array_pickle(object_array)
    protocol_4 = _write_pickle({"w": np.arange(3, dtype=np.float32)}, tmp_path / "p4.pkl", protocol=4)
    np.testing.assert_array_equal(load_array_pickle(protocol_4)["w"], [0, 1, 2])


def test_offline_and_missing_names_the_file_the_folder_and_where_to_get_it(torch_home):
    with pytest.raises(PretrainedWeightsError) as caught:
        create_backbone("resnet50", "vggface2")
    message = str(caught.value)
    assert "resnet50_ft_weight.pkl" in message and str(torch_home / "hub" / "checkpoints") in message
    assert "HF_HUB_OFFLINE=1" in message and "VGGFace2-pytorch" in message
    with pytest.raises(PretrainedWeightsError, match="they exist for resnet50"):
        create_backbone("resnet18", "vggface2")


def test_online_the_file_is_fetched_into_the_hub_cache_and_a_web_page_is_refused(torch_home, monkeypatch):
    import oadn.models.face_weights as face_weights

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    fetched = []

    def fake_download(url: str, path: Path) -> Path:
        fetched.append(url)
        _write_pickle(_caffe_state(), path)
        return path

    monkeypatch.setattr(face_weights, "download", fake_download)
    create_backbone("resnet50", "vggface2")
    assert fetched == [PUBLISHED[("resnet50", "vggface2")].url]
    assert (torch_home / "hub" / "checkpoints" / "resnet50_ft_weight.pkl").is_file()

    def web_page(url: str, path: Path) -> Path:
        path.write_text("<!DOCTYPE html><html>Quota exceeded</html>")
        return path

    monkeypatch.setattr(face_weights, "download", web_page)
    with pytest.raises(PretrainedWeightsError, match="something other than a weights file"):
        create_backbone("resnet50", "vggface2-scratch")
    folder = torch_home / "hub" / "checkpoints"
    assert list(folder.iterdir()) == [folder / "resnet50_ft_weight.pkl"]  # the page was removed


def _facenet_state(seed: int = 0) -> dict[str, torch.Tensor]:
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(seed)
    network = InceptionResnetV1(classify=True, num_classes=IDENTITIES)  # logits as in the published file
    return network.state_dict()


def test_inception_resnet_v1_loads_facenets_vggface2_file_and_reports_the_unused_head(torch_home):
    state = _facenet_state()
    folder = hub_checkpoints()
    folder.mkdir(parents=True)
    torch.save(state, folder / "20180402-114759-vggface2.pt")
    backbone = create_backbone("inception-resnet-v1", "vggface2")
    torch.testing.assert_close(backbone.module.state_dict()["repeat_2.3.branch1.0.conv.weight"],
                               state["repeat_2.3.branch1.0.conv.weight"])
    report = backbone.module.load_report
    assert set(report.not_loaded) == {"last_linear.weight", "last_bn.weight", "last_bn.bias", "last_bn.running_mean",
                                      "last_bn.running_var", "last_bn.num_batches_tracked", "logits.weight",
                                      "logits.bias"}
    assert input_normalisation(backbone.module) == FACENET_NORMALISATION
    assert backbone.channels == 1792 and backbone.stride == 32
    assert backbone.grid.offset == pytest.approx(37.0, abs=0.1)
    with torch.no_grad():
        module = backbone.module.eval()
        assert module(torch.zeros(1, 3, 160, 160)).shape[-2:] == (3, 3)
        assert module(torch.zeros(1, 3, 224, 224)).shape[-2:] == (5, 5)


def test_oadn_trains_a_step_on_inception_resnet_v1_from_scratch():
    model = create_model(ModelConfig(name="oadn", backbone="inception-resnet-v1"), 7, 112)
    landmarks = torch.cat([20 + 56 * torch.rand(2, 68, 2), torch.ones(2, 68, 1)], dim=-1)
    outputs = model(torch.rand(2, 3, 112, 112), landmarks)
    loss, _ = model.loss(outputs, torch.tensor([0, 3]))
    loss.backward()
    assert torch.isfinite(loss)


def test_preflight_knows_inception_resnet_v1s_unpadded_map():
    from oadn.config import ConfigError, build_config
    from oadn.engine.preflight import check_model
    from oadn.models.face_backbones import inception_side

    assert [inception_side(s) for s in (96, 106, 107, 160, 224)] == [1, 1, 2, 3, 5]
    with pytest.raises(ConfigError, match=r"feature map is 1x1 but oadn needs a map of at least 2x2 cells; use "
                                          r"data.image_size >= 107"):
        check_model(build_config(overrides=["model.backbone=inception-resnet-v1", "data.image_size=100"]))
    check_model(build_config(overrides=["model.backbone=inception-resnet-v1", "data.image_size=112"]))


def test_a_suites_vggface2_row_is_skipped_offline_naming_the_file_and_planned_once_it_is_there(torch_home):
    from oadn.config import build_config
    from oadn.experiments.planning import missing_weights

    config = build_config(overrides=["model.backbone=resnet50", "model.pretrained=vggface2"])
    reason = missing_weights(config)
    assert "resnet50_ft_weight.pkl" in reason and str(hub_checkpoints()) in reason
    _write_pickle({"w": np.zeros(1, np.float32)}, hub_checkpoints() / "resnet50_ft_weight.pkl")
    assert missing_weights(config) == ""
    other = build_config(overrides=["model.backbone=resnet18", "model.pretrained=vggface2"])
    assert "they exist for resnet50" in missing_weights(other)


def test_a_vggface2_pickle_that_does_not_fit_names_each_misfit(torch_home):
    state = _caffe_state()
    del state["layer1.0.conv1.weight"]
    state["layer2.0.conv1.weight"] = np.zeros((1, 1, 1, 1), np.float32)
    state["extra.weight"] = np.zeros(3, np.float32)
    path = _write_pickle(state, hub_checkpoints() / "resnet50_ft_weight.pkl")
    with pytest.raises(PretrainedWeightsError) as caught:
        create_backbone("resnet50", "vggface2")
    message = str(caught.value)
    assert str(path) in message and "1 missing key(s) (e.g. ['layer1.0.conv1.weight'])" in message
    assert "1 unexpected key(s) (e.g. ['extra.weight'])" in message
    assert "layer2.0.conv1.weight (1, 1, 1, 1) (expected (128, 256, 1, 1))" in message
