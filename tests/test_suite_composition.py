"""Suites compose instead of copying: ``include:`` starts from another suite and states only what differs, a column
``grid`` expands kind x area x score mode into named columns, the manifest records each column's fields, and
endpoints select columns by those fields."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from helpers import TINY
from oadn.cli import app
from oadn.config import ConfigError
from oadn.experiments.suites import expand_grid, load_suite

runner = CliRunner()


def test_the_robustness_suites_share_their_columns_and_endpoints_and_state_what_differs():
    full, at96, gpu = (load_suite(name) for name in ("robustness", "robustness-96", "robustness-gpu"))
    columns = [(c.name, c.dataset, c.options) for c in full.experiments[0].columns]
    assert len(columns) == 14 and columns[2] == ("eyes 30%, backend", "occluded", {
        "base": "ferplus", "probability": 1.0, "kind": "eyes", "area": 0.3, "scores": "backend"})
    assert columns[-1][0] == "swap-eyes, random-drop" and "area" not in columns[-1][2]
    for other in (at96, gpu):
        assert [(c.name, c.dataset, c.options) for c in other.experiments[0].columns] == columns
        assert other.endpoints == full.endpoints
    assert at96.experiments[0].config["data"]["image_size"] == 96
    assert at96.experiments[0].config["data"]["options"] == full.experiments[0].config["data"]["options"]
    assert list(at96.experiments[0].methods) == ["OADN", "OADN (mean pooling)", "OADN (λ = 0)"]
    assert "train_limit" not in gpu.experiments[0].config["data"]["options"] and gpu.seeds == [0]
    primary = [(e.column, e.against) for e in full.endpoints if e.primary]
    assert primary == [("eyes 30%, oracle", "eyes 30%, backend"), ("mouth 30%, oracle", "mouth 30%, backend")]


def test_a_grid_expands_kind_area_and_scores_in_that_order_named_from_its_fields():
    columns = expand_grid({"dataset": "occluded", "options": {"base": "synthetic"}, "kind": ["eyes", "mouth"],
                           "area": [0.2, 0.4], "scores": ["ones", "oracle"]}, "grid")
    assert [c["name"] for c in columns[:3]] == ["eyes 20%, ones", "eyes 20%, oracle", "eyes 40%, ones"]
    assert len(columns) == 8 and columns[-1]["options"] == {"base": "synthetic", "kind": "mouth", "area": 0.4,
                                                            "scores": "oracle"}
    with pytest.raises(ValueError, match="unknown key\\(s\\) colour"):
        expand_grid({"kind": "eyes", "colour": "red"}, "grid")


def suite(path, **values):
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def test_include_reads_a_suite_beside_removes_what_is_set_to_null_and_refuses_a_cycle(tmp_path):
    suite(tmp_path / "parent.yaml", name="parent", seeds=[0, 1],
          base={**TINY, "data": {**TINY["data"], "val_fraction": 0.2}}, methods={"OADN": {"model": {"name": "oadn"}}})
    child = load_suite(str(suite(tmp_path / "child.yaml", include="parent.yaml", name="child",
                                 base={"data": {"val_fraction": None, "image_size": 48}})))
    config = child.experiments[0].config["data"]
    assert child.name == "child" and child.seeds == [0, 1] and "val_fraction" not in config
    unnamed = load_suite(str(suite(tmp_path / "my-variant.yaml", include="parent.yaml")))
    assert unnamed.name == "my-variant"  # its own report folder, never the included suite's
    assert config["image_size"] == 48 and config["options"] == TINY["data"]["options"]
    suite(tmp_path / "a.yaml", include="b.yaml", methods={"X": {}})
    suite(tmp_path / "b.yaml", include="a.yaml", methods={"X": {}})
    with pytest.raises(ConfigError, match="includes itself: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_suite(str(tmp_path / "a.yaml"))


def test_endpoints_select_columns_by_fields_and_a_selection_must_be_one_column(tmp_path):
    grid = {"grid": {"dataset": "occluded", "split": "test_clean",
                     "options": {"base": "synthetic", "kind": "mouth", "probability": 1.0},
                     "kind": "mouth", "area": 0.3, "scores": ["ones", "oracle"]}}
    values = dict(name="fields", base=TINY, methods={"OADN": {"model": {"name": "oadn"}}},
                  experiments=[{"id": "exp", "columns": [{"name": "clean", "split": "test_clean"}, grid]}])
    endpoint = {"name": "oracle - ones", "method": "OADN", "column": {"kind": "mouth", "scores": "oracle"},
                "against": {"scores": "ones"}}
    loaded = load_suite(str(suite(tmp_path / "ok.yaml", **values, endpoints=[endpoint])))
    assert (loaded.endpoints[0].column, loaded.endpoints[0].against) == ("mouth 30%, oracle", "mouth 30%, ones")
    with pytest.raises(ConfigError, match="several columns have them"):
        load_suite(str(suite(tmp_path / "two.yaml", **values, endpoints=[{**endpoint, "column": {"kind": "mouth"}}])))
    with pytest.raises(ConfigError, match="no column has them"):
        load_suite(str(suite(tmp_path / "none.yaml", **values,
                             endpoints=[{**endpoint, "against": {"scores": "random-drop"}}])))
    with pytest.raises(ConfigError, match=r"column = \{'kinds': 'mouth'\}: fields are kind, area, scores"):
        load_suite(str(suite(tmp_path / "typo.yaml", **values, endpoints=[{**endpoint, "column": {"kinds": "mouth"}}])))


@pytest.mark.slow
def test_the_manifest_records_each_columns_fields_and_the_report_computes_field_selected_endpoints(tmp_path):
    grid = {"grid": {"dataset": "occluded", "split": "test_clean", "options": {"base": "synthetic", "probability": 1.0},
                     "kind": "mouth", "area": 0.3, "scores": ["ones", "oracle"]}}
    path = suite(tmp_path / "s.yaml", name="fields", base=TINY, methods={"OADN": {"model": {"name": "oadn"}}},
                 experiments=[{"id": "exp", "columns": [{"name": "clean", "split": "test_clean"}, grid]}],
                 endpoints=[{"name": "oracle - ones", "method": "OADN", "column": {"scores": "oracle"},
                             "against": {"scores": "ones"}}])
    result = runner.invoke(app, ["run", "--suite", str(path), "--runs-root", str(tmp_path / "runs"),
                                 "--report-dir", str(tmp_path / "report"), "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = pd.read_csv(tmp_path / "report" / "manifest.csv", dtype=str, keep_default_na=False)
    fields = manifest.set_index("column")[["kind", "area", "scores"]]
    assert fields.loc["mouth 30%, oracle"].tolist() == ["mouth", "0.3", "oracle"]
    assert fields.loc["clean"].tolist() == ["", "", ""]
    endpoints = pd.read_csv(tmp_path / "report" / "endpoints.csv")
    assert endpoints.loc[0, "column"] == "mouth 30%, oracle" and endpoints.loc[0, "against"] == "mouth 30%, ones"
    assert json.loads((tmp_path / "report" / "suite.json").read_text())["endpoints"][0]["against"] == "mouth 30%, ones"
