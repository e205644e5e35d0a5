"""What the engine and the commands ask of a data set is declared on its adapter, with defaults: whether it is a
copy on disk to check and prepare, how its soft targets train, whose cache it reads, which split options it
takes, whose protocol options it passes on. No engine module finds these out by ``hasattr`` or by importing a
concrete data set."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from oadn.config import ConfigError, build_config
from oadn.data.registry import DatasetAdapter, get_dataset, list_datasets
from oadn.engine.loader import TARGET_MODES
from oadn.engine.preflight import check_splits, open_adapter

PACKAGE = Path(__file__).resolve().parents[1] / "oadn"


def _constructible(name: str) -> DatasetAdapter | None:
    try:
        return get_dataset(name)
    except ValueError:  # the user-list subset has no default list
        return None


@pytest.mark.parametrize("name", list_datasets())
def test_every_data_set_declares_its_capabilities(name):
    adapter = _constructible(name)
    if adapter is None:
        adapter = get_dataset(name, parent="ferplus", list_path="list.txt")
    assert isinstance(adapter.checkable, bool) and adapter.target_mode in TARGET_MODES
    assert isinstance(adapter.cache_name, str) and adapter.cache_name
    names = adapter.split_option_names()
    assert names is None or isinstance(names, set)
    assert adapter.options_of is None or adapter.options_of in list_datasets()


def test_wrappers_read_their_base_and_say_so():
    occluded = get_dataset("occluded", base="ferplus", label_mode="probability")
    assert not occluded.checkable and occluded.cache_name == "ferplus" and occluded.options_of == "ferplus"
    assert occluded.target_mode == "sample" and occluded.unoccluded() is occluded.base
    subset = get_dataset("occlusion-ferplus", label_mode="crossentropy")
    assert subset.checkable and subset.cache_name == "ferplus" and subset.options_of == "ferplus"
    assert subset.target_mode == "soft" and subset.unoccluded() is None
    synthetic = get_dataset("synthetic")
    assert not synthetic.checkable and not synthetic.needs_root and "occluder_kinds" in synthetic.split_option_names()
    assert {"landmarks", "cache_dir"} <= get_dataset("ferplus").split_option_names()


def test_preflight_asks_the_adapter_for_its_split_options():
    config = build_config(overrides=["data.options={train_size: 14, test_size: 7}", "data.test_splits=[test_clean]",
                                     "data.split_options={bogus: 1}"])
    with pytest.raises(ConfigError, match="unknown key\\(s\\) 'bogus' for synthetic; valid: .*occluder_kinds"):
        check_splits(config, open_adapter(config))


def test_no_module_outside_the_data_package_imports_a_concrete_data_set():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "data") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                       else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(PACKAGE)}: {m}" for m in modules
                          if m.startswith(("oadn.data.adapters", "oadn.data.synthetic"))]
    assert not offenders
