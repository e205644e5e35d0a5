"""Every image path read from a data set's own files (a FERPlus label.csv name, an AffectNet subDirectory_filePath)
names a file inside the data set's root, or it is an error at that file and line in ``datasets check``,
``prepare``, ``train`` and ``pack``: a label file travels with a copy, and what it names would be read, trained
on and packed into a shareable file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers_affectnet import write_affectnet
from helpers_ferplus import write_ferplus
from oadn.cli import app
from oadn.data.registry import get_dataset

runner = CliRunner()


def refused(result, code: int) -> str:
    """The output of a refusal: exit status ``code``, no traceback (the message may quote several problems of the
    label files, each at its file and line)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def secret_face(tmp_path: Path) -> Path:
    """A private image outside every data set root."""
    path = tmp_path / "secret" / "x.png"
    path.parent.mkdir()
    Image.fromarray(np.full((48, 48), 200, np.uint8)).save(path)
    return path


def add_ferplus_row(root: Path, name: str) -> str:
    """``name`` appended to FER2013Train/label.csv; the label file and the line it is on."""
    label = root / "FER2013Train" / "label.csv"
    lines = label.read_text().splitlines() + [f'{name},"(0, 0, 48, 48)",8,0,0,0,0,0,0,0,0,0']
    label.write_text("\n".join(lines) + "\n")
    return f"{label}:{len(lines)}"


@pytest.mark.parametrize("entry", ["../../secret/x.png", "ABSOLUTE"])
def test_a_ferplus_name_outside_the_root_is_named_by_check_prepare_and_train(tmp_path, entry):
    secret, root = secret_face(tmp_path), tmp_path / "ferplus"
    landmarks = write_ferplus(root)
    where = add_ferplus_row(root, str(secret) if entry == "ABSOLUTE" else entry)
    text = refused(runner.invoke(app, ["datasets", "check", "ferplus", "--root", str(root),
                                              "--problems-file", str(tmp_path / "p.txt")]), 1)
    assert f"error: {where}: image" in text and "NOT USABLE" in text
    cache = tmp_path / "cache"
    text = refused(runner.invoke(app, ["prepare", "ferplus", "--root", str(root), "--landmarks",
                                              f"file:{landmarks}", "--cache-dir", str(cache), "--no-progress"]), 1)
    assert where in text
    result = runner.invoke(app, ["train", "--no-progress", "--set", "data.name=ferplus", "--set",
                                 f"data.root={root}", "--set", "data.image_size=32", "--set", "model.backbone=cnn-tiny",
                                 "--cache-dir", str(cache), "--run-dir", str(tmp_path / "run")])
    assert where in refused(result, 1)


def test_a_pack_never_carries_pixels_from_outside_the_root(tmp_path):
    secret, root = secret_face(tmp_path), tmp_path / "ferplus"
    landmarks = write_ferplus(root)
    cache = tmp_path / "cache"
    result = runner.invoke(app, ["prepare", "ferplus", "--root", str(root), "--landmarks", f"file:{landmarks}",
                                 "--cache-dir", str(cache), "--no-progress"])
    assert result.exit_code == 0, result.output
    where = add_ferplus_row(root, "../../secret/x.png")  # added to a prepared copy, then packed
    out = tmp_path / "ferplus.pack"
    text = refused(runner.invoke(app, ["pack", "ferplus", "--root", str(root), "--size", "48", "--out", str(out),
                                              "--cache-dir", str(cache)]), 1)
    assert where in text and not out.exists() and secret.is_file()


@pytest.mark.parametrize("entry", ["../../secret/x.png", "1/../../../secret/x.png", "ABSOLUTE"])
def test_an_affectnet_path_outside_the_root_is_named_with_file_and_line(tmp_path, entry):
    secret, root = secret_face(tmp_path), tmp_path / "affectnet"
    write_affectnet(root)
    listed = str(secret) if entry == "ABSOLUTE" else entry
    validation = root / "Manually_Annotated_file_lists" / "validation.csv"
    lines = validation.read_text().splitlines()
    lines.append(lines[0].replace(lines[0].split(",")[0], listed))
    validation.write_text("\n".join(lines) + "\n")
    where = f"{validation}:{len(lines)}"
    with pytest.raises(ValueError, match=f"{where}: subDirectory_filePath"):
        get_dataset("affectnet").index(root)
    text = refused(runner.invoke(app, ["datasets", "check", "affectnet", "--root", str(root),
                                              "--problems-file", str(tmp_path / "p.txt")]), 1)
    assert f"error: {where}: subDirectory_filePath {listed!r}" in text


def test_a_link_the_user_placed_inside_the_root_is_theirs(tmp_path):
    root = tmp_path / "ferplus"
    write_ferplus(root)
    (root / "FER2013Train" / "linked.png").symlink_to(secret_face(tmp_path))
    add_ferplus_row(root, "linked.png")
    index = get_dataset("ferplus").index(root)
    assert "linked.png" in set(index["image_id"])
