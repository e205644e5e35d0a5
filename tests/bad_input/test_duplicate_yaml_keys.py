"""A key given twice in any YAML file the tool reads is an error naming the file, the line and the key: YAML
itself would keep the last one and silently drop the other."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import one_named_line, tiny_config
from oadn.cli import app
from oadn.config import ConfigError, load_yaml, parse_override
from oadn.engine.train import train_run

runner = CliRunner()

SUITE = """\
name: twice
base:
  data: {name: synthetic, options: {train_size: 70, test_size: 21, seed: 3}, image_size: 32,
         test_splits: [test_clean]}
  model: {backbone: cnn-tiny}
  train: {epochs: 1, batch_size: 16}
methods:
  OADN: {model: {name: oadn}}
  OADN: {model: {name: baseline}, train: {lr: 0.5}}
"""


def test_a_suite_naming_a_method_twice_is_refused_with_file_line_and_key(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(SUITE)
    text = one_named_line(runner.invoke(app, ["run", "--suite", str(path), "--dry-run",
                                              "--runs-root", str(tmp_path / "runs")]), 2)
    assert f"{path}:9" in text and "key 'OADN' given twice (first on line 8)" in text
    assert not (tmp_path / "runs").exists()


def test_a_config_file_and_an_ablation_file_with_a_key_twice_are_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  lr: 0.1\n  epochs: 1\n  lr: 0.5\n")
    result = runner.invoke(app, ["train", "-c", str(config), "--run-dir", str(tmp_path / "run"), "--no-progress"])
    assert f"{config}:4" in one_named_line(result, 2) and "key 'lr' given twice" in result.output
    ablation = tmp_path / "a.yaml"
    ablation.write_text("param: T\nvalues: [0.5, 0.6]\nparam: K\n")
    result = runner.invoke(app, ["ablate", "--sweep", str(ablation), "--dry-run"])
    assert f"{ablation}:3" in one_named_line(result, 2) and "key 'param' given twice" in result.output


def test_a_run_config_yaml_with_a_key_twice_is_refused_by_evaluate(tmp_path):
    run = tmp_path / "run"
    train_run(tiny_config("model.backbone=cnn-tiny", "train.epochs=1"), run, progress=False)
    path = run / "config.yaml"
    path.write_text(path.read_text().replace("  lam: 0.5\n", "  lam: 0.5\n  lam: 1.0\n"))
    result = runner.invoke(app, ["evaluate", str(run), "--split", "test_clean", "--no-progress"])
    assert "key 'lam' given twice" in one_named_line(result, 2) and str(path) in result.output


def test_a_set_value_with_a_key_twice_is_refused():
    with pytest.raises(ConfigError, match="key 'a' given twice"):
        parse_override("model.options={a: 1, a: 2}")


def test_merge_keys_still_override_and_unique_keys_load(tmp_path):
    path = Path(tmp_path / "m.yaml")
    path.write_text("base: &b {lr: 0.1, epochs: 2}\ntrain:\n  <<: *b\n  lr: 0.5\n")
    assert load_yaml(path)["train"] == {"lr": 0.5, "epochs": 2}
