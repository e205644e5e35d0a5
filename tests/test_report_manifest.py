"""manifest.csv validation and scoring of one row, with errors that name the file and line."""

import json

import pandas as pd
import pytest

from oadn.report.manifest import COLUMNS, load_manifest, score_row

CLASSES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral", "contempt"]


def _write(folder, **changes):
    row = {c: "" for c in COLUMNS}
    row.update(suite="s", experiment="e", column="FED-RO", method="OADN", seed="0", status="finished",
               classes=json.dumps(CLASSES), scored_classes=json.dumps(CLASSES[:7]), restricted="True",
               predictions=str(folder / "p.parquet"))  # fmt: skip
    row.update(changes)
    pd.DataFrame([row]).to_csv(folder / "manifest.csv", index=False)


def test_bad_status_and_class_lists_name_the_line(tmp_path):
    _write(tmp_path, status="done")
    with pytest.raises(ValueError, match=r"manifest.csv, line 2: status 'done'"):
        load_manifest(tmp_path)
    _write(tmp_path, scored_classes='["happy"]')
    with pytest.raises(ValueError, match=r"line 2: scored_classes \['happy'\] are not all in classes"):
        load_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match="no manifest"):
        load_manifest(tmp_path / "elsewhere")


def test_scoring_on_shared_classes(tmp_path):
    # 8-class training (contempt = 7), 7-class test set: the contempt image is left out, classes matched by name
    pd.DataFrame({"image_id": ["a", "b", "c", "d"], "label": [3, 3, 6, 7], "pred_prediction": [3, 4, 6, 7]}).to_parquet(
        tmp_path / "p.parquet"
    )
    _write(tmp_path)
    row = load_manifest(tmp_path).iloc[0]
    assert bool(row["restricted"])
    scored = score_row(row, tmp_path)
    assert list(scored.image_ids) == ["a", "b", "c"]
    assert scored.accuracy == pytest.approx(2 / 3)
    assert scored.mean_class_accuracy == pytest.approx((0.5 + 1.0) / 2)  # happiness 1/2, neutral 1/1
    assert scored.confusion.sum() == 3


def test_predictions_without_prediction_column(tmp_path):
    pd.DataFrame({"image_id": ["a"], "label": [0]}).to_parquet(tmp_path / "p.parquet")
    _write(tmp_path)
    with pytest.raises(ValueError, match="predictions lack column\\(s\\) pred_prediction"):
        score_row(load_manifest(tmp_path).iloc[0], tmp_path)
