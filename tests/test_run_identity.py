"""Run identity survives upgrades: a field added with the value that reproduces the behaviour from before it leaves
every existing hash as it was; a method's identity holds only its own options; format-1 runs are read and reused;
the one run family whose hash moved is renamed by ``oadn-bench migrate``, which says what it did."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from typer.testing import CliRunner

from helpers import one_named_line
from oadn import config as config_module
from oadn.cli import app
from oadn.config import CONFIG_VERSION, MODELS, ConfigError, TrainConfig, build_config
from oadn.experiments.ablations import ablation_suite, ablations_dir, read_ablation_file
from oadn.experiments.identity import config_hash
from oadn.experiments.suites import builtin_suites, load_suite, method_config
from oadn.models.oadn import OADN, OADNOptions

runner = CliRunner()
#: hashes of finished runs, as the code before method-owned options named their directories
PINNED = {
    ("demo", "OADN"): "0eb7a918", ("demo", "OADN (λ = 0)"): "4c9a0407", ("demo", "Baseline"): "ded784ae",
    ("demo", "Baseline (GAP + FC-256)"): "6bb0a5ad",
    ("adaptivity-ferplus", "OADN"): "b0d38238", ("adaptivity-ferplus", "OADN (λ = 0)"): "7ae26ece",
    ("adaptivity-synthetic", "OADN-mean"): "24bf03f1", ("adaptivity-synthetic", "OADN-lambda0"): "80459a1a",
    ("robustness", "RAN"): "f5d91938", ("robustness", "gACNN"): "1d3a3141",
    ("methods-synthetic", "RAN"): "8e9f7766", ("methods-synthetic", "pACNN"): "46544298",
}
METHOD_DEFAULTS = {"oadn": "83807791", "baseline": "d04dacd8", "baseline-fc": "486bcbfd", "ran": "b914a14a",
                   "pacnn": "1a13d073", "gacnn": "91d0778b"}


def every_hash() -> dict[str, str]:
    """Every built-in suite's and ablation's run hash at seed 0, and each method's at its defaults."""
    out = {}
    for name in builtin_suites():
        suite = load_suite(name)
        for experiment in suite.experiments:
            for method in experiment.methods:
                out[f"{name}/{experiment.id}/{method}"] = config_hash(method_config(suite, experiment, method, 0))
    for path in sorted(ablations_dir().glob("*.yaml")):
        suite = ablation_suite(read_ablation_file(path), False, [])
        for method in suite.experiments[0].methods:
            out[f"{path.stem}/{method}"] = config_hash(method_config(suite, suite.experiments[0], method, 0))
    for method in METHOD_DEFAULTS:
        out[method] = config_hash(build_config(overrides=[f"model.name={method}"]))
    return out


def test_finished_runs_keep_their_hashes():
    for (name, method), digest in PINNED.items():
        suite = load_suite(name)
        experiment = next(e for e in suite.experiments if method in e.methods)
        assert config_hash(method_config(suite, experiment, method, 0)) == digest, (name, method)
    for method, digest in METHOD_DEFAULTS.items():
        assert config_hash(build_config(overrides=[f"model.name={method}"])) == digest, method


def test_a_field_added_with_its_neutral_value_leaves_every_existing_hash_unchanged(monkeypatch, isolate_registries):
    before = every_hash()
    # a new training setting (format 3) and a new OADN option, each at the value that reproduces today's behaviour
    later = dataclasses.make_dataclass("LaterTrainConfig", [("warmup_lr", float, dataclasses.field(default=0.0))],
                                       bases=(TrainConfig,))
    monkeypatch.setitem(config_module._NESTED, "train", later)
    monkeypatch.setattr(config_module, "CONFIG_VERSION", CONFIG_VERSION + 1)
    monkeypatch.setitem(config_module.ADDED_KEYS, "train.warmup_lr", (CONFIG_VERSION + 1, 0.0))
    isolate_registries(MODELS)
    wider = dataclasses.make_dataclass("LaterOADNOptions", [("dropout", float, dataclasses.field(default=0.0))],
                                       bases=(OADNOptions,))
    MODELS._entries["oadn"] = type("LaterOADN", (OADN,), {"Options": wider})
    assert build_config().train.warmup_lr == 0.0 and build_config().model.options.dropout == 0.0
    assert every_hash() == before
    assert config_hash(build_config(overrides=["train.warmup_lr=0.01"])) != before["oadn"]
    assert config_hash(build_config(overrides=["model.dropout=0.1"])) != before["oadn"]


def test_a_baselines_identity_does_not_follow_oadns_options(isolate_registries):
    baseline = config_hash(build_config(overrides=["model.name=baseline"]))
    isolate_registries(MODELS)
    other = dataclasses.make_dataclass("OtherDefaults", [("lam", float, dataclasses.field(default=0.9))],
                                       bases=(OADNOptions,))
    MODELS._entries["oadn"] = type("OtherOADN", (OADN,), {"Options": other})
    assert config_hash(build_config(overrides=["model.name=baseline"])) == baseline
    assert config_hash(build_config()) != METHOD_DEFAULTS["oadn"]


def test_a_method_takes_only_its_own_options_each_named_with_exit_2(tmp_path):
    with pytest.raises(ConfigError, match=r"config.model: unknown key\(s\) lam; .*baseline takes no options"):
        build_config(overrides=["model.name=baseline", "model.lam=0"])
    with pytest.raises(ConfigError, match=r"config.model.crops = 'random': expected fixed or landmark.*"
                                          r"config.model.margin = -1.0: expected a number >= 0.*config.train.lr"):
        build_config(overrides=["model.name=ran", "model.crops=random", "model.margin=-1", "train.lr=-1"])
    result = runner.invoke(app, ["train", "--run-dir", str(tmp_path / "run"), "--set", "model.name=gacnn",
                                 "--set", "model.unit_dim=0", "--set", "model.threshold=0.5"])
    text = one_named_line(result, 2)
    assert "unknown key(s) threshold" in text and "gacnn's options patch_fraction" in text
    assert not (tmp_path / "run").exists()


def test_ablate_param_T_still_varies_oadns_threshold():
    suite = ablation_suite(read_ablation_file(ablations_dir() / "synthetic-T.yaml"), False, [])
    configs = [method_config(suite, suite.experiments[0], m, 0) for m in suite.experiments[0].methods]
    assert [c.model.options.threshold for c in configs] == [0.0, 0.3, 0.6, 0.9]
    at_test = ablation_suite(read_ablation_file(ablations_dir() / "synthetic-T.yaml"), True, [])
    assert list(at_test.experiments[0].methods) == ["trained at T=0.6"]


def format1_config(config, **model) -> dict:
    """``config`` as format 1 wrote it: OADN's settings (at their defaults unless ``model`` says) under every method,
    other methods' settings in model.options."""
    values = yaml.safe_load(yaml.safe_dump(config_module.config_to_dict(config)))
    own = {key: values["model"].pop(key) for key in list(values["model"]) if key not in config_module.MODEL_KEYS}
    values["model"].update({**config_module.FORMAT1_MODEL_KEYS, "options": {}})
    values["model"].update({k: v for k, v in own.items() if k in config_module.FORMAT1_MODEL_KEYS})
    values["model"]["options"] = {k: v for k, v in own.items() if k not in config_module.FORMAT1_MODEL_KEYS}
    values["model"].update(model)
    return {**values, "config_version": 1}


def finished_run(folder, values: dict):
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(values))
    (folder / "metrics.json").write_text("{}")
    return folder


def test_format1_runs_are_read_in_todays_layout_and_migrate_renames_only_what_moved(tmp_path):
    suite = load_suite("adaptivity-synthetic")
    px96 = suite.experiments[0]
    runs = tmp_path / "runs"
    # the suite's runs as format 1 wrote them: its base set OADN's pooling for every row, the baselines' included
    kept = finished_run(runs / "px96" / "OADN-mean" / "seed0-24bf03f1",
                        format1_config(method_config(suite, px96, "OADN-mean", 0)))
    moved = finished_run(runs / "px96" / "Baseline" / "seed0-4dfba516",
                         format1_config(method_config(suite, px96, "Baseline", 0), lab_pooling="mean"))
    ran = config_module.run_config_from_dict(
        format1_config(build_config(overrides=["model.name=ran", "model.region_size=36"])), "ran")
    assert ran.model.options.region_size == 36 and ran.model.options.crops == "fixed"

    dry = runner.invoke(app, ["migrate", "--runs-root", str(runs), "--dry-run"])
    said = " ".join(dry.output.split())
    assert dry.exit_code == 0 and "1 would be renamed, 1 kept their identity" in said
    assert f"would rename {moved} -> seed0-ece641d5" in said and f"renamed {moved}" not in said
    assert moved.is_dir()
    done = runner.invoke(app, ["migrate", "--runs-root", str(runs)])
    text = " ".join(done.output.split())
    assert done.exit_code == 0 and f"renamed {moved} -> seed0-ece641d5" in text and "run each suite again" in text
    assert kept.is_dir() and not moved.exists() and (runs / "px96" / "Baseline" / "seed0-ece641d5").is_dir()
    plan = runner.invoke(app, ["run", "--suite", "adaptivity-synthetic", "--runs-root", str(runs), "--dry-run",
                               "--method", "OADN-mean", "--method", "Baseline"])
    reused = [line for line in plan.output.splitlines() if " reuse " in line]
    assert plan.exit_code == 0 and len(reused) == 2, plan.output
    assert "seed0-24bf03f1" in reused[0] and "seed0-ece641d5" in reused[1]
