"""The wheel: the package with its data (suites, ablations, RAN lists, published numbers), and nothing else; the
scripts in benchmarks/ are not a package and are not installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds the wheel

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_every_module_with_its_suites_and_ablations_and_no_benchmarks_package(tmp_path):
    source = tmp_path / "src"  # built from a copy: a build writes build/ and *.egg-info beside pyproject.toml
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("oadn", "benchmarks", "ablations"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)], check=True)
    (wheel,) = (tmp_path / "dist").glob("oadn_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "oadn").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    suites = {f"oadn/_suites/{path.name}" for path in (ROOT / "benchmarks" / "suites").glob("*.yaml")}
    ablations = {f"oadn/_ablations/{path.name}" for path in (ROOT / "ablations").glob("*.yaml")}
    assert "oadn/_suites/demo.yaml" in suites and suites | ablations <= names
    assert {"oadn/report/published.csv", "oadn/data/ran_lists/FERplus_dir/jianfei_occlusion_list.txt"} <= names
    assert not [name for name in names if name.startswith("benchmarks/")]
