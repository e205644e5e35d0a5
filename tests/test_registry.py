"""The one registry style: a decorator fills it, a second entry of one name is refused, an unknown name is an
error listing every registered one; a registry imports the module registering its built-in entries at its first
lookup."""

from __future__ import annotations

import pytest

from oadn.common.registry import Registry


def test_a_registry_takes_entries_by_decorator_and_names_them_all_when_asked_for_an_unknown_one():
    colours: Registry[type] = Registry("colour")

    @colours.register("red")
    class Red:
        pass

    assert colours.get("red") is Red and "red" in colours and colours.names() == ["red"]
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        colours.register("red")(type("Crimson", (), {}))
    with pytest.raises(KeyError, match="unknown colour 'blue'; registered: red"):
        colours.get("blue")


def test_every_registry_holds_its_built_in_entries_at_its_first_lookup():
    from oadn.data.landmarks import LANDMARK_BACKENDS
    from oadn.data.registry import DATASETS
    from oadn.experiments.executors import EXECUTORS
    from oadn.models.registry import BACKBONES, MODELS

    assert {"synthetic", "ferplus", "rafdb", "affectnet", "fedro", "folder", "occluded", "subset"} <= set(DATASETS)
    assert set(LANDMARK_BACKENDS) == {"fan", "dlib", "dataset", "file"}
    assert set(MODELS) == {"oadn", "baseline", "baseline-fc", "ran", "gacnn", "pacnn"}
    assert set(BACKBONES) == {"resnet50", "resnet18", "resnet-tiny", "cnn-tiny", "inception-resnet-v1"}
    assert set(EXECUTORS) == {"local", "slurm"}
    assert DATASETS.get("ferplus").name == "ferplus" and LANDMARK_BACKENDS.get("file").name == "file"
