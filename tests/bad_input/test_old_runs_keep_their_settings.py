"""A run records the version that wrote it, and an older run's ``config.yaml`` lacking a key added since is read
with the value that older version used (``oadn.config.ADDED_KEYS``), never today's default; a missing key whose
old value is unknown refuses the run, named. The new records are not part of a run's identity: the hashes of
existing runs (the demo's among them) stay, and an old run directory is still found and reused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from helpers import suite_file, tiny_config
from oadn.cli import app
from oadn.config import ADDED_KEYS, CONFIG_VERSION, WRITTEN_BY, RunConfig, build_config
from oadn.engine.run_dir import load_config
from oadn.engine.train import train_run
from oadn.experiments.identity import config_hash
from oadn.experiments.suites import load_suite, method_config

runner = CliRunner()


def as_older_version(run: Path, *drop: str) -> None:
    """``run``'s config.yaml as a version from before the records (and before the keys ``drop``) wrote it."""
    path = run / "config.yaml"
    values = yaml.safe_load(path.read_text())
    values.pop("written_by"), values.pop("config_version")
    for key in drop:
        section, leaf = key.split(".")
        values[section].pop(leaf)
    path.write_text(yaml.safe_dump(values, sort_keys=False))


@pytest.fixture()
def mean_pooled_run(tmp_path) -> Path:
    run = tmp_path / "run"
    train_run(tiny_config("model.backbone=cnn-tiny", "train.epochs=1", "model.lab_pooling=mean"), run, progress=False)
    return run


def test_a_run_records_the_version_that_wrote_it(mean_pooled_run):
    values = yaml.safe_load((mean_pooled_run / "config.yaml").read_text())
    assert values["written_by"] == WRITTEN_BY and values["config_version"] == CONFIG_VERSION
    assert build_config(base={"written_by": "oadn-bench 0.0.1", "config_version": 0}).config_version == CONFIG_VERSION


def test_an_old_run_without_lab_pooling_is_evaluated_as_it_was_trained(mean_pooled_run, tmp_path):
    as_older_version(mean_pooled_run, "model.lab_pooling")
    config = load_config(mean_pooled_run)
    assert config.model.options.lab_pooling == "mean" and config.config_version == 0 and config.written_by is None
    result = runner.invoke(app, ["evaluate", str(mean_pooled_run), "--split", "test_clean", "--no-progress"])
    assert result.exit_code == 0, result.output
    trained = pd.read_parquet(mean_pooled_run / "predictions" / "test_clean.parquet")
    evaluated = pd.read_parquet(next((mean_pooled_run / "evaluations").glob("*/test_clean.parquet")))
    assert list(evaluated["image_id"]) == list(trained["image_id"])
    np.testing.assert_allclose(np.stack(evaluated["scores"]), np.stack(trained["scores"]), atol=1e-6)


@pytest.mark.parametrize("version, drop, named", [
    (None, "model.regions", "model.regions missing"),  # never added later: no old value is known
    (CONFIG_VERSION, "model.lab_pooling", "model.lab_pooling missing"),  # the format that wrote it had the key
])
def test_a_missing_key_with_no_known_old_value_refuses_the_run(tmp_path, version, drop, named):
    run = tmp_path / "run"
    train_run(tiny_config("model.backbone=cnn-tiny", "train.epochs=1"), run, progress=False)
    as_older_version(run, drop)
    if version is not None:
        values = yaml.safe_load((run / "config.yaml").read_text())
        (run / "config.yaml").write_text(yaml.safe_dump({**values, "config_version": version}))
    result = runner.invoke(app, ["evaluate", str(run), "--split", "test_clean", "--no-progress"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert str(run / "config.yaml") in text and named in text and "refusing to run it under today's default" in text
    assert "Traceback" not in result.output and not (run / "evaluations").exists()


def test_every_key_added_later_has_an_old_value_and_is_a_field():
    fields = json.dumps(list(RunConfig.__dataclass_fields__)) + yaml.safe_dump(
        {section: list(getattr(RunConfig(), section).__dataclass_fields__) for section in ("data", "model", "train")}
    ) + json.dumps(list(RunConfig().model.options.__dataclass_fields__))  # OADN's settings, its own since format 2
    for key, (version, _old) in ADDED_KEYS.items():
        assert key.split(".")[1] in fields and 1 <= version <= CONFIG_VERSION, key


def test_the_records_leave_run_hashes_as_they_were():
    suite = load_suite("demo")
    hashes = {m: config_hash(method_config(suite, e, m, 0)) for e in suite.experiments for m in e.methods}
    # the demo's run directories as the code without the records names them (train.cpu_amp, a setting, came last)
    assert hashes == {"OADN": "0eb7a918", "OADN (λ = 0)": "4c9a0407", "Baseline": "ded784ae",
                      "Baseline (GAP + FC-256)": "6bb0a5ad"}
    assert config_hash(RunConfig()) == "83807791"


@pytest.mark.slow
def test_an_old_run_directory_without_the_records_is_still_reused(tmp_path):
    suite = suite_file(tmp_path / "s.yaml")
    args = ["run", "--suite", str(suite), "--runs-root", str(tmp_path / "runs"), "--report-dir",
            str(tmp_path / "report"), "--no-progress"]
    assert runner.invoke(app, args).exit_code == 0
    (run,) = [p.parent for p in (tmp_path / "runs").rglob("config.yaml")]
    as_older_version(run)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"finished run found in {run}, reusing it" in " ".join(result.output.split())
    assert [p.parent for p in (tmp_path / "runs").rglob("config.yaml")] == [run]
