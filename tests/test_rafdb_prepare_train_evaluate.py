"""A user's whole path on real on-disk formats: a RAF-DB copy -> prepare (landmark file) -> train OADN ->
evaluate on an occlusion list over the same copy. The faces are synthetic, written as RAF-DB JPEGs, with their
scored landmarks in a CSV, so the test knows the truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from oadn.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_prepare_train_and_evaluate_on_a_list_subset(rafdb_copy, tmp_path):
    root, landmarks, occlusion_list = rafdb_copy
    cache = tmp_path / "cache"
    result = runner.invoke(app, ["prepare", "rafdb", "--root", str(root), "--landmarks", f"file:{landmarks}",
                                 "--align", "aligned", "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output

    run_dir = tmp_path / "run"
    sets = ["data.name=rafdb", f"data.root={root}", f"data.split_options={{cache_dir: {cache}}}",
            "data.image_size=32", "model.backbone=resnet-tiny", "train.epochs=1", "train.batch_size=8",
            "train.eval_batch_size=16"]
    args = ["train", "--run-dir", str(run_dir), "--no-progress"]
    for text in sets:
        args += ["--set", text]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["splits"]["test"]["prediction"]["count"] == 14
    predictions = pd.read_parquet(run_dir / "predictions" / "test.parquet")
    assert sorted(predictions["image_id"])[0].startswith("test_0001")

    result = runner.invoke(app, ["evaluate", str(run_dir), "--data", "occlusion-rafdb", "--root", str(root),
                                 "--option", f"list_path={occlusion_list}", "--no-progress"])
    assert result.exit_code == 0, result.output
    (out_dir,) = (run_dir / "evaluations").glob("occlusion-rafdb@*")  # own options (list_path): own folder
    subset = json.loads((out_dir / "metrics.json").read_text())
    assert subset["test"]["prediction"]["count"] == 3
    subset_predictions = pd.read_parquet(out_dir / "test.parquet")
    full = predictions.set_index("image_id").loc[subset_predictions["image_id"]]
    # the same weights on the same prepared images give the same predictions, whichever data set view is used
    np.testing.assert_array_equal(full["pred_prediction"].to_numpy(), subset_predictions["pred_prediction"].to_numpy())
