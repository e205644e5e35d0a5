"""``run --suite --report-dir DIR`` checks every file the report will write, figures included, before it trains:
a clash with a file the report did not write stops it at once, not after hours of training."""

from __future__ import annotations

from typer.testing import CliRunner

from helpers import suite_file
from oadn.cli import app
from oadn.report.figure_names import figure_name

runner = CliRunner()


def test_a_figure_name_clash_stops_the_suite_before_any_training(tmp_path):
    suite = suite_file(tmp_path / "s.yaml", name="tiny", experiment="exp", method="OADN", column="clean")
    report = tmp_path / "report"
    (report / "figures").mkdir(parents=True)
    mine = report / "figures" / figure_name("confusion", "exp", "clean", "OADN")
    mine.write_bytes(b"a figure of my own")
    result = runner.invoke(app, ["run", "--suite", str(suite), "--runs-root", str(tmp_path / "runs"),
                                 "--report-dir", str(report), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    assert f"refusing to overwrite figures/{mine.name}" in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists()  # nothing trained
    assert mine.read_bytes() == b"a figure of my own"
