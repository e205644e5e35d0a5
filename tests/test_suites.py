"""Suites and ablations: discovery, planning (reuse, resume, skip, new on a changed config), dry-run output,
class-subset scoring, and a tiny ablation end to end (retrained and at test time)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomllib
import yaml
from setuptools import find_packages
from typer.testing import CliRunner

from helpers import TINY, TINY_OVERRIDES
from oadn.cli import app
from oadn.config import build_config, config_to_dict
from oadn.data.adapters.synthetic import SyntheticDataset
from oadn.data.labels import BASIC_CLASSES
from oadn.data.registry import DatasetAdapter, register_dataset
from oadn.engine.evaluate import evaluate_run
from oadn.experiments.identity import config_hash
from oadn.experiments.planning import DataLocations, format_plan, plan_suite
from oadn.experiments.suites import builtin_suites, load_suite, method_config

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
@register_dataset("test-synthetic-6")
class SyntheticWithoutNeutral(DatasetAdapter):
    """The synthetic test faces without neutral: six of the seven training classes (a subset test set)."""

    needs_root = False

    def __init__(self, **options):
        self.parent = SyntheticDataset(**options)

    classes = property(lambda self: BASIC_CLASSES[:6])
    splits = property(lambda self: ("test_occluded",))

    def open_split(self, split, *, root=None, image_size=32, **options):
        from oadn.data.faces import SubsetSource

        source = self.parent.open_split(split, root=root, image_size=image_size, **options)
        return SubsetSource(source, np.flatnonzero(np.asarray(source.labels) != 6))


def write_suite(path: Path, seeds=(0,), columns=None, data_name="synthetic") -> Path:
    experiment = {"id": "exp", "title": "Tiny", "config": {"data": {"name": data_name}}}
    if columns is not None:
        experiment["columns"] = columns
    base = TINY if data_name == "synthetic" else {**TINY, "data": {"image_size": 32, "test_splits": ["test"]}}
    path.write_text(yaml.safe_dump({"name": "tiny", "description": "Tiny suite", "seeds": list(seeds), "base": base,
                                    "methods": {"OADN": {"model": {"name": "oadn"}}},
                                    "experiments": [experiment]}))
    return path


def test_builtin_suites_and_ablations_are_listed_and_load():
    names = builtin_suites()
    assert {"paper", "in-the-wild", "occlusion", "pose", "ferplus", "backbones", "demo"} <= set(names)
    for name in names:
        assert load_suite(name).experiments
    result = runner.invoke(app, ["run", "--list"])
    assert result.exit_code == 0 and "ferplus" in result.output and "synthetic-T" in result.output


def test_packages_listed_in_pyproject_cover_the_source_tree():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert set(find_packages(str(ROOT), include=["oadn*"])) <= listed


def test_demo_suite_resolves_to_the_original_configuration():
    original = {
        "data": {"name": "synthetic",
                 "options": {"train_size": 4200, "test_size": 1400, "train_occlusion": 0.5, "seed": 0},
                 "image_size": 64, "val_fraction": 0.1, "test_splits": ["test_clean", "test_occluded"]},
        "model": {"backbone": "cnn-tiny", "name": "oadn"},
        "train": {"epochs": 10, "batch_size": 64, "lr": 0.05, "lr_milestones": [8], "eval_batch_size": 256, "seed": 0},
        "name": "demo/OADN/seed0",
    }
    suite = load_suite("demo")
    resolved = method_config(suite, suite.experiments[0], "OADN", 0)
    assert config_to_dict(resolved) == config_to_dict(build_config(base=original))


def test_identity_ignores_locations_only():
    config = build_config(overrides=TINY_OVERRIDES)
    moved = build_config(overrides=TINY_OVERRIDES + ["data.num_workers=2", "train.device=cpu", "name=other"])
    assert config_hash(config) == config_hash(moved)
    assert config_hash(config) != config_hash(build_config(overrides=TINY_OVERRIDES + ["train.lr=0.02"]))


def test_plan_new_then_reuse_resume_and_new_on_changed_config(tmp_path):
    suite = load_suite(str(write_suite(tmp_path / "s.yaml", seeds=(0, 1))))
    runs = tmp_path / "runs"
    plans = plan_suite(suite, runs, DataLocations())
    assert [r.status for r in plans[0].runs] == ["new", "new"]
    assert plans[0].runs[0].images_per_epoch == 63 and plans[0].runs[0].total_images == 70 + 2 * 28
    finished, unfinished = plans[0].runs
    finished.run_dir.mkdir(parents=True)
    (finished.run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(finished.config)))
    (finished.run_dir / "metrics.json").write_text("{}")
    unfinished.run_dir.mkdir(parents=True)
    (unfinished.run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(unfinished.config)))
    assert [r.status for r in plan_suite(suite, runs, DataLocations())[0].runs] == ["reuse", "resume"]
    changed = plan_suite(suite, runs, DataLocations(), overrides=["train.lr=0.01"])[0].runs
    assert [r.status for r in changed] == ["new", "new"] and changed[0].run_dir != finished.run_dir
    # a saved config that was edited by hand no longer matches its hash: never reused
    edited = config_to_dict(finished.config)
    edited["train"]["epochs"] = 5
    (finished.run_dir / "config.yaml").write_text(yaml.safe_dump(edited))
    assert plan_suite(suite, runs, DataLocations())[0].runs[0].status == "new"


def test_missing_data_skips_the_experiment_naming_the_files(tmp_path):
    suite = load_suite(str(write_suite(tmp_path / "s.yaml", data_name="rafdb")))
    plans = plan_suite(suite, tmp_path / "runs", DataLocations(data_root=tmp_path / "data"))
    run = plans[0].runs[0]
    assert run.status == "skip" and str(tmp_path / "data" / "rafdb") in run.reason
    text = format_plan(plans)
    assert "skip: data missing" in text and "0 new" in text and "1 skip" in text
    no_root = plan_suite(suite, tmp_path / "runs", DataLocations())[0].runs[0]
    assert "--data-root" in no_root.reason and "--root rafdb=PATH" in no_root.reason


def test_dry_run_prints_every_run_and_trains_nothing(tmp_path):
    suite = write_suite(tmp_path / "s.yaml", seeds=(0, 1))
    result = runner.invoke(app, ["run", "--suite", str(suite), "--dry-run", "--runs-root", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert result.output.count("new") >= 2 and "63 img/epoch" in result.output and "126 img total" in result.output
    assert not (tmp_path / "runs").exists()


def test_method_runs_only_the_named_rows_and_an_unknown_one_names_the_suites_methods(tmp_path):
    suite = write_suite(tmp_path / "s.yaml")
    raw = yaml.safe_load(suite.read_text())
    raw["methods"]["Baseline"] = {"model": {"name": "baseline"}}
    suite.write_text(yaml.safe_dump(raw))
    base = ["run", "--suite", str(suite), "--dry-run", "--runs-root", str(tmp_path / "runs")]
    both = runner.invoke(app, base)
    assert both.exit_code == 0 and "OADN" in both.output and "Baseline" in both.output
    one = runner.invoke(app, [*base, "--method", "Baseline"])
    assert one.exit_code == 0, one.output
    assert "Baseline" in one.output and "OADN" not in one.output and "1 new" in one.output
    unknown = runner.invoke(app, [*base, "--method", "RAN"])
    assert unknown.exit_code == 2 and "'RAN'" in unknown.output and "its methods: 'Baseline', 'OADN'" in unknown.output


def test_a_method_can_train_fewer_of_the_suites_seeds(tmp_path):
    suite = write_suite(tmp_path / "s.yaml", seeds=(0, 1, 2))
    raw = yaml.safe_load(suite.read_text())
    raw["methods"]["Control"] = {"model": {"name": "oadn", "lam": 0.0}, "seeds": [0, 2]}
    suite.write_text(yaml.safe_dump(raw))
    loaded = load_suite(str(suite))
    assert loaded.seeds_of("OADN") == [0, 1, 2] and loaded.seeds_of("Control") == [0, 2]
    assert "seeds" not in loaded.experiments[0].methods["Control"]  # not a configuration key
    (plan,) = plan_suite(loaded, tmp_path / "runs", DataLocations())
    assert sorted((r.method, r.seed) for r in plan.runs) == [("Control", 0), ("Control", 2), ("OADN", 0), ("OADN", 1),
                                                             ("OADN", 2)]
    loaded.seeds = [0, 1]  # --seeds 2
    (plan,) = plan_suite(loaded, tmp_path / "runs", DataLocations())
    assert [r.seed for r in plan.runs if r.method == "Control"] == [0]
    raw["methods"]["Control"]["seeds"] = [5]
    suite.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["run", "--suite", str(suite), "--dry-run"])
    assert result.exit_code == 2 and "methods.Control.seeds = [5]" in result.output


@pytest.mark.slow
def test_suite_run_writes_manifest_and_scores_a_class_subset_column(tmp_path):
    columns = [{"name": "occluded", "split": "test_occluded"},
               {"name": "six classes", "dataset": "test-synthetic-6", "split": "test_occluded"}]
    suite = write_suite(tmp_path / "s.yaml", columns=columns)
    args = ["run", "--suite", str(suite), "--runs-root", str(tmp_path / "runs"), "--report-dir", str(tmp_path / "rep"),
            "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 ran, 0 reused" in result.output
    manifest = pd.read_csv(tmp_path / "rep" / "manifest.csv")
    assert list(manifest["column"]) == ["occluded", "six classes"] and set(manifest["status"]) == {"finished"}
    subset = manifest.iloc[1]
    assert bool(subset["restricted"]) and json.loads(subset["scored_classes"]) == list(BASIC_CLASSES[:6])
    predictions = pd.read_parquet(subset["predictions"])
    assert predictions["label"].max() <= 5 and predictions["pred_prediction"].max() <= 5
    # restricted arg-max = arg-max of the run's own scores over the first six classes
    own = pd.read_parquet(manifest.iloc[0]["predictions"]).set_index("image_id")
    scores = np.stack(own.loc[predictions["image_id"], "scores"].to_numpy())
    assert (scores[:, :6].argmax(axis=1) == predictions["pred_prediction"].to_numpy()).all()
    assert json.loads((tmp_path / "rep" / "suite.json").read_text())["summary"]["ran"] == 1
    assert "six classes" in (tmp_path / "rep" / "results.md").read_text()

    rerun = runner.invoke(app, args)
    assert rerun.exit_code == 0 and "0 ran, 1 reused" in rerun.output


def test_evaluate_keeps_one_output_per_split_and_options(tmp_path):
    from oadn.engine.train import train_run

    run_dir = tmp_path / "run"
    train_run(build_config(overrides=TINY_OVERRIDES + ["train.epochs=1"]), run_dir, progress=False)
    evaluate_run(run_dir, splits=["test_clean"], progress=False)
    evaluate_run(run_dir, splits=["test_occluded"], progress=False)
    saved = json.loads((run_dir / "evaluations" / "synthetic" / "metrics.json").read_text())
    assert set(saved) == {"test_clean", "test_occluded"}
    evaluate_run(run_dir, splits=["test_clean"], model_overrides={"threshold": 0.1}, progress=False)
    other = [p.name for p in (run_dir / "evaluations").iterdir()]
    assert len(other) == 2 and any(name.startswith("synthetic@") for name in other)
    with pytest.raises(ValueError, match="model key"):
        evaluate_run(run_dir, model_overrides={"thresh": 0.1}, progress=False)

    # the same from the command line: a test-time T is scored into that evaluation's folder
    result = runner.invoke(app, ["evaluate", str(run_dir), "--split", "test_occluded", "--model-option",
                                 "threshold=0.1", "--no-progress"])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (run_dir / "evaluations").iterdir() if p.name.startswith("synthetic@")]
    assert set(json.loads((folder / "metrics.json").read_text())) == {"test_clean", "test_occluded"}
    assert json.loads((folder / "evaluation.json").read_text())["model_overrides"] == {"threshold": 0.1}
    shaped = runner.invoke(app, ["evaluate", str(run_dir), "--model-option", "regions=9"])
    assert shaped.exit_code == 1 and "regions cannot change at evaluation" in shaped.output
    out_of_range = runner.invoke(app, ["evaluate", str(run_dir), "--model-option", "threshold=1.5"])
    assert out_of_range.exit_code == 2 and "model.threshold = 1.5: expected T in [0, 1]" in out_of_range.output


@pytest.mark.slow
def test_tiny_ablation_end_to_end_retrained_and_at_test(tmp_path):
    ablation = tmp_path / "tiny-T.yaml"
    ablation.write_text(yaml.safe_dump({"name": "tiny-T", "param": "T", "values": [0.2, 0.8], "paper_value": 0.6,
                                        "base": {**TINY, "data": {**TINY["data"], "test_splits": ["test_occluded"]}}}))
    common = ["--sweep", str(ablation), "--runs-root", str(tmp_path / "runs"), "--no-progress"]
    result = runner.invoke(app, ["ablate", *common, "--report-dir", str(tmp_path / "retrained")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "retrained" / "ablation.csv")
    assert list(table["value"]) == [0.2, 0.8] and set(table["kind"]) == {"retrained"}
    assert table["accuracy"].between(0, 1).all() and (table["count"] == 28).all()
    meta = json.loads((tmp_path / "retrained" / "ablation.json").read_text())
    assert meta["param"] == "T" and meta["paper_value"] == 0.6 and meta["kind"] == "retrained"

    at_test = ["ablate", *common, "--at-test", "--values", "0.0,0.5,1.0", "--report-dir", str(tmp_path / "at-test"),
               "--set", "data.test_splits=[test_clean,test_occluded]"]
    result = runner.invoke(app, at_test)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "at-test" / "ablation.csv")
    assert list(table["value"]) == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0] and set(table["kind"]) == {"at-test"}
    assert table["run_dir"].nunique() == 1 and "1 ran" in result.output and table["count"].notna().all()
    scoring = [line for line in result.output.splitlines() if line.startswith("scoring ")]
    assert len(scoring) == 3 and all("test_clean, test_occluded at {'threshold'" in line
                                     for line in scoring)  # one model load per value
    again = runner.invoke(app, at_test)
    assert again.exit_code == 0 and "scoring " not in again.output  # every value's figures are reused
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "at-test" / "ablation.csv"), table)

    refused = runner.invoke(app, ["ablate", "--param", "K", "--dataset", "synthetic", "--at-test", "--values", "1,4",
                                  "--runs-root", str(tmp_path / "runs")])
    assert refused.exit_code == 1 and "T and sigma" in refused.output


@pytest.mark.slow
def test_missing_landmark_cache_is_prepared_on_the_way_or_skipped_with_the_command(rafdb_copy, tmp_path):
    root, landmarks, _ = rafdb_copy
    suite = load_suite(str(write_suite(tmp_path / "s.yaml", data_name="rafdb")))
    broken = DataLocations(roots={"rafdb": root}, cache_dir=tmp_path / "cache", landmarks=f"file:{tmp_path}/none.csv")
    run = plan_suite(suite, tmp_path / "runs", broken)[0].runs[0]
    assert run.status == "skip" and f"run: oadn-bench prepare rafdb --root {root} --landmarks file:" in run.reason

    args = ["run", "--suite", str(tmp_path / "s.yaml"), "--root", f"rafdb={root}", "--landmarks", f"file:{landmarks}",
            "--cache-dir", str(tmp_path / "cache"), "--runs-root", str(tmp_path / "runs"),
            "--report-dir", str(tmp_path / "rep"), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "preparing the file:" in result.output and "1 ran" in result.output
    assert list(pd.read_csv(tmp_path / "rep" / "manifest.csv")["status"]) == ["finished"]
    # the prepared cache is found the second time; the finished run is reused
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "preparing" not in result.output and "1 reused" in result.output


def test_a_generic_ablation_moved_onto_another_data_set_leaves_its_protocol_options_behind(tmp_path, monkeypatch):
    import oadn.experiments.ablations as ablation

    (tmp_path / "T.yaml").write_text(yaml.safe_dump({"param": "T", "values": [0.2], "base": {
        "data": {"name": "synthetic", "options": {"train_size": 70}, "test_splits": ["test_clean"]}}}))
    monkeypatch.setattr(ablation, "ablations_dir", lambda: tmp_path)
    moved = ablation.resolve_ablation(None, "T", "ferplus")
    assert moved.base["data"] == {"name": "ferplus", "options": {}} and moved.name == "ferplus-T"
    assert ablation.resolve_ablation(None, "T", None).base["data"]["options"] == {"train_size": 70}


def test_the_plan_counts_the_training_faces_a_train_limit_keeps_and_hands_a_wrapper_its_cache(
        rafdb_copy, tmp_path):
    root, landmarks, _ = rafdb_copy
    locations = DataLocations(roots={"rafdb": root}, cache_dir=tmp_path / "cache", landmarks=f"file:{landmarks}")
    counts = {}
    for limit in (None, 20):
        options = {"base": "rafdb", "kind": "rect", **({"train_limit": limit} if limit else {})}
        path = write_suite(tmp_path / f"s{limit}.yaml", data_name="occluded")
        raw = yaml.safe_load(path.read_text())
        raw["experiments"][0]["config"]["data"]["options"] = options
        path.write_text(yaml.safe_dump(raw))
        suite = load_suite(str(path))
        run = plan_suite(suite, tmp_path / "runs", locations)[0].runs[0]
        counts[limit] = run.images_per_epoch
        # the occluded wrapper reads its base's cache where --cache-dir says, with the planned landmarks
        assert run.config.data.split_options == {"landmarks": f"file:{landmarks}", "cache_dir": str(tmp_path / "cache")}
    held_out = math.ceil(run.config.data.val_fraction * 20)  # validation is carved off the kept faces
    assert counts[None] > 20 and counts[20] == 20 - held_out
