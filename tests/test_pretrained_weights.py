"""model.pretrained as a timm tag: found in a Hugging Face cache the test writes, a named error offline when absent."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from oadn.models.backbones import create_backbone
from oadn.models.pretrained import PretrainedWeightsError, is_local_file

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


def _place(hf_home: Path, repo: str, state: dict[str, torch.Tensor]) -> Path:
    """Lay a weights file out as huggingface_hub caches it: refs/main -> snapshots/<commit>/model.safetensors."""
    folder = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(COMMIT)
    snapshot = folder / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "model.safetensors"))
    return snapshot / "model.safetensors"


def test_imagenet_tag_loads_timm_default_weights_from_the_hf_cache(hf_home: Path):
    state = {k: torch.full_like(v, 0.25) if v.is_floating_point() else v
             for k, v in timm.create_model("test_resnet").state_dict().items()}
    _place(hf_home, "timm/test_resnet.r160_in1k", state)
    backbone = create_backbone("timm:test_resnet", pretrained="imagenet")
    loaded = backbone.module.model.state_dict()
    assert torch.equal(loaded["conv1.0.weight"], state["conv1.0.weight"])
    again = create_backbone("timm:test_resnet", pretrained="r160_in1k")  # the explicit tag, same file
    assert torch.equal(again.module.model.state_dict()["conv1.0.weight"], state["conv1.0.weight"])


def test_offline_and_missing_names_the_file_and_the_cache_folder(hf_home: Path):
    with pytest.raises(PretrainedWeightsError) as caught:
        create_backbone("resnet18", pretrained="tv_in1k")
    message = str(caught.value)
    assert "model.safetensors" in message and "HF_HUB_OFFLINE=1" in message
    assert str(hf_home / "hub" / "models--timm--resnet18.tv_in1k") in message


def test_unknown_tags_and_own_backbones_are_named(hf_home: Path):
    with pytest.raises(PretrainedWeightsError, match="no pretrained tag 'nope' for 'resnet18'; tags: a1_in1k"):
        create_backbone("resnet18", pretrained="nope")
    with pytest.raises(PretrainedWeightsError, match="'cnn-tiny' is this project's own design"):
        create_backbone("cnn-tiny", pretrained="imagenet")
    assert is_local_file("weights/resnet.pth") and is_local_file("w.safetensors") and not is_local_file("imagenet")
    assert create_backbone("cnn-tiny", pretrained="scratch").channels == 128
