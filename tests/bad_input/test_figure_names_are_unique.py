"""Figure files are named from the names users give, and names that slug to the same ASCII (emoji, CJK, case,
punctuation) still get one file each per (experiment, column, method): a readable slug plus a digest of the
exact names. The page shows each method's own confusion matrix."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from fixtures.reports import manifest_row
from oadn.report import render_suite_report
from oadn.report.figure_names import figure_name, slug, suite_figures

METHODS = {"😀": 80, "😢": 60, "開心": 70, "難過": 50}
COLUMNS = ("Occlusion test", "occlusion-TEST")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # DejaVu has no emoji or CJK: the names differ
def test_names_that_slug_alike_give_one_figure_each(tmp_path):
    rows = [manifest_row(tmp_path, column, "", method, 0, correct=correct + k)
            for k, column in enumerate(COLUMNS) for method, correct in METHODS.items()]
    report = tmp_path / "reports" / "names"
    report.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(report / "manifest.csv", index=False)
    index = render_suite_report(report, resamples=50)
    confusion = sorted((report / "figures").glob("confusion_*.png"))
    assert len(confusion) == len(COLUMNS) * len(METHODS)
    assert len({path.read_bytes() for path in confusion}) == len(confusion)  # each its own matrix
    assert len(list((report / "figures").glob("bars_*.png"))) == len(COLUMNS)
    page = index.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)" alt="([^"]+): row-normalised', page)
    assert len({data for data, _ in images}) == len(images) == len(COLUMNS) * len(METHODS)


def test_a_figure_name_is_readable_unique_and_listed_before_the_report_is_drawn():
    name = figure_name("confusion", "ferplus-ran", "Occlusion-FERPlus", "OADN (ResNet-50)")
    assert re.fullmatch(r"confusion_ferplus-ran_occlusion-ferplus_oadn-resnet-50-[0-9a-f]{8}\.png", name)
    assert figure_name("confusion", "e", "c", "😀") != figure_name("confusion", "e", "c", "😢")
    assert figure_name("bars", "e", "Clean") != figure_name("bars", "e", "clean")
    assert figure_name("bars", "a_b", "c") != figure_name("bars", "a", "b_c")
    assert slug("😀") == "x" and len(figure_name("confusion", *["é" * 32] * 3).encode()) < 255
    listed = suite_figures([("e", ["Clean", "clean"], ["😀", "😢"])])
    assert len(set(listed)) == len(listed) == 2 * 4 + 2 * 2  # per column: bars, reliability, pairs, disagreements
    assert f"figures/{figure_name('confusion', 'e', 'clean', '😢')}" in listed
