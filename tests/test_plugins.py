"""Plugins: a user's method in a package of its own, found by --plugin, a suite's plugins: list and entry points,
trained, evaluated and reported by the real commands."""

from __future__ import annotations

import json
import sys
import textwrap

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from helpers import TINY_OVERRIDES
from oadn.cli import app
from oadn.common.plugins import PluginError, load_plugin
from oadn.data.registry import DATASETS
from oadn.models.registry import BACKBONES, MODELS

runner = CliRunner()

PLUGIN = textwrap.dedent('''
    """A method with its own head: the backbone's pooled features through a two-layer MLP."""
    from torch import nn

    from oadn.models import register_model
    from oadn.models.backbones import create_backbone
    from oadn.models.base import FERModel, classification_loss


    @register_model("{name}")
    class MlpHead(FERModel):
        def __init__(self, config, num_classes, image_size):
            super().__init__()
            backbone = create_backbone(config.backbone, config.pretrained)
            self.backbone = backbone.module
            self.head = nn.Sequential(nn.Linear(backbone.channels, 32), nn.ReLU(), nn.Linear(32, num_classes))

        def forward(self, images, landmarks):
            return {{"logits": self.head(self.backbone(images).mean(dim=(2, 3)))}}

        def loss(self, outputs, targets, label_smoothing=0.0):
            loss = classification_loss(outputs["logits"], targets, label_smoothing)
            return loss, {{"loss": loss.detach()}}

        def branch_scores(self, outputs):
            return {{"prediction": outputs["logits"].float().softmax(dim=-1)}}
''')


@pytest.fixture
def isolated(monkeypatch, isolate_registries):
    """Registries and imported modules as they were before the test: a plugin's entries do not leak."""
    isolate_registries(MODELS, BACKBONES, DATASETS)
    before = set(sys.modules)
    yield monkeypatch
    for name in set(sys.modules) - before:
        if name.startswith(("myfer", "broken", "oadn_plugin_")):
            del sys.modules[name]


def write_package(root, name="myfer", method="mlp-head"):
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN.format(name=method))
    return package


def sets(*extra: str) -> list[str]:
    args = []
    for text in [*TINY_OVERRIDES, "train.epochs=1", *extra]:
        args += ["--set", text]
    return args


@pytest.mark.slow
def test_train_evaluate_and_suite_with_a_plugin_method(tmp_path, isolated):
    write_package(tmp_path / "site")
    isolated.syspath_prepend(str(tmp_path / "site"))
    run_dir = tmp_path / "run"
    unknown = runner.invoke(app, ["train", "--run-dir", str(run_dir), "--no-progress", *sets("model.name=mlp-head")])
    assert unknown.exit_code != 0 and "mlp-head" in unknown.output  # not registered without the plugin

    result = runner.invoke(app, ["train", "--plugin", "myfer", "--run-dir", str(run_dir), "--no-progress",
                                 *sets("model.name=mlp-head")])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["name"] == "mlp-head"
    result = runner.invoke(app, ["evaluate", str(run_dir), "--plugin", "myfer", "--split", "test_clean",
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads((run_dir / "evaluations" / "synthetic" / "metrics.json").read_text())
    final = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["test_clean"]["prediction"]["accuracy"] == final["splits"]["test_clean"]["prediction"]["accuracy"]

    suite = tmp_path / "suite.yaml"
    base = {"data": {"options": {"train_size": 70, "test_size": 28}, "image_size": 32,
                     "test_splits": ["test_clean"]},
            "model": {"backbone": "resnet-tiny"}, "train": {"epochs": 1, "batch_size": 16, "eval_batch_size": 64}}
    suite.write_text(yaml.safe_dump({"name": "plug", "seeds": [0], "plugins": ["myfer"], "base": base,
                                     "methods": {"Mine": {"model": {"name": "mlp-head"}},
                                                 "Baseline": {"model": {"name": "baseline"}}}}))
    result = runner.invoke(app, ["run", "--suite", str(suite), "--runs-root", str(tmp_path / "runs"),
                                 "--report-dir", str(tmp_path / "report"), "--no-progress", "--allow-plugins"])
    assert result.exit_code == 0, result.output
    assert "| Mine" in (tmp_path / "report" / "results.md").read_text()
    results = pd.read_csv(tmp_path / "report" / "results.csv")
    assert set(results["method"]) == {"Mine", "Baseline"} and (results["seeds"] == 1).all()


def test_a_plugin_file_relative_to_its_suite_and_on_the_command_line(tmp_path, isolated):
    (tmp_path / "mine.py").write_text(PLUGIN.format(name="file-head"))
    result = runner.invoke(app, ["models", "--plugin", str(tmp_path / "mine.py")])
    assert result.exit_code == 0, result.output
    assert "file-head" in result.output
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"name": "f", "plugins": ["mine.py"], "base": {},
                                     "methods": {"Mine": {"model": {"name": "file-head"}}}}))
    result = runner.invoke(app, ["run", "--suite", str(suite), "--dry-run", "--runs-root", str(tmp_path / "runs"),
                                 "--allow-plugins"])
    assert result.exit_code == 0, result.output


def test_installed_entry_points_load_without_any_option(tmp_path, isolated):
    site = tmp_path / "site"
    write_package(site, method="entry-head")
    info = site / "myfer-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myfer\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[oadn_bench.models]\nentry-head = myfer\n")
    isolated.syspath_prepend(str(site))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "entry-head" in result.output


def test_a_plugin_that_fails_to_import_names_itself_and_its_exception(tmp_path, isolated):
    (tmp_path / "broken.py").write_text("import no_such_module_anywhere\n")
    isolated.syspath_prepend(str(tmp_path))
    result = runner.invoke(app, ["train", "--plugin", "broken", "--no-progress"])
    assert result.exit_code == 1
    assert "plugin 'broken'" in result.output and "ModuleNotFoundError" in result.output
    assert "no_such_module_anywhere" in result.output
    result = runner.invoke(app, ["models", "--plugin", str(tmp_path / "missing.py")])
    assert result.exit_code == 1 and "missing.py" in result.output and "no such file" in result.output


def test_a_name_registered_twice_names_both_places(tmp_path, isolated):
    (tmp_path / "clash.py").write_text(PLUGIN.format(name="baseline"))
    with pytest.raises(PluginError) as caught:
        load_plugin(str(tmp_path / "clash.py"))
    message = str(caught.value)
    assert "model 'baseline' is registered twice" in message
    assert "oadn.models.baseline.GapClassifier" in message and "baseline.py:" in message  # the first place
    assert "MlpHead" in message and "clash.py:" in message  # the second


@pytest.mark.slow
def test_a_slurm_job_loads_the_plugins_before_it_trains(tmp_path, isolated):
    """The job runs in another process, which knows only the built-in entries until it loads the same plugins."""
    from helpers import tiny_config
    from oadn.config import config_to_dict
    from oadn.experiments.executors.slurm import TrainJob

    plugin = tmp_path / "job_plugin.py"
    plugin.write_text(PLUGIN.format(name="job-head"))
    config = config_to_dict(tiny_config("train.epochs=1"))  # as the executor hands it over: plain data
    config["model"] = {"name": "job-head", "backbone": config["model"]["backbone"], "pretrained": None}
    assert "job-head" not in MODELS
    metrics, _ = TrainJob()(config, tmp_path / "run", False, (str(plugin),))
    assert "job-head" in MODELS and metrics["splits"]["test_clean"]["prediction"]["count"] == 42
