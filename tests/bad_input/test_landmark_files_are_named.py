"""A landmark file given to ``--landmarks file:PATH`` that is not what its name says (a pickle renamed .csv, a
damaged parquet) is refused in one line naming the file, never a bare decoder error, and a pickle's code never
runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers_ferplus import write_ferplus
from oadn.cli import app

runner = CliRunner()


class Payload:
    """Unpickling it writes a marker file: a stand-in for a crafted file's code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "payload ran"))


def prepare_with(tmp_path: Path, landmarks: Path):
    root = tmp_path / "ferplus"
    write_ferplus(root)
    return runner.invoke(app, ["prepare", "ferplus", "--root", str(root), "--landmarks", f"file:{landmarks}",
                               "--cache-dir", str(tmp_path / "cache"), "--no-progress"])


def test_a_pickle_renamed_csv_is_named_and_never_loaded(tmp_path):
    marker = tmp_path / "marker.txt"
    renamed = tmp_path / "landmarks.csv"
    renamed.write_bytes(pickle.dumps({"fer0000000.png": np.zeros((68, 3)), "x": Payload(marker)}))
    result = prepare_with(tmp_path, renamed)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    text = " ".join(result.output.split())
    assert f"{renamed}: not a CSV landmark file: it is a pickle file" in text and "utf-8" not in text
    assert not marker.exists()


@pytest.mark.parametrize("name, content, named", [
    ("landmarks.csv", b"\xff\xfe\x00\x01 not text", "not a CSV landmark file ("),
    ("landmarks.parquet", b"PAR1 not really a parquet file", "not a parquet landmark file ("),
])
def test_a_damaged_landmark_table_is_named(tmp_path, name, content, named):
    path = tmp_path / name
    path.write_bytes(content)
    result = prepare_with(tmp_path, path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and f"{path}: {named}" in " ".join(result.output.split())
