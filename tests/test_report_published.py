"""The published-numbers file: keys valid, a few numbers as printed in the paper."""

from importlib import resources

import pytest

from oadn.report.published import PUBLISHED_KEYS, load_published


def _accuracy(frame, method, key, pretraining):
    row = frame[(frame.method == method) & (frame.published_key == key) & (frame.pretraining == pretraining)]
    assert len(row) == 1
    return row.accuracy.iloc[0]


def test_published_numbers_and_keys():
    frame = load_published()
    assert set(frame.published_key) == set(PUBLISHED_KEYS)
    assert _accuracy(frame, "OADN", "rafdb-test", "imagenet") == 87.16
    assert _accuracy(frame, "OADN", "rafdb-test", "vggface2") == 89.83
    assert _accuracy(frame, "gACNN", "affectnet7-val", "own") == 58.78
    assert _accuracy(frame, "RAN", "pose45-affectnet", "vggface2") == 53.19
    assert _accuracy(frame, "OADN", "fedro-test", "imagenet") == 68.11
    assert _accuracy(frame, "OADN", "occlusion-ferplus", "vggface2") == 84.57
    assert _accuracy(frame, "RAN", "pose30-ferplus", "vggface2") == 82.23
    assert list(frame[frame.table == "Table 1"].method)[:3] == ["RAN", "OADN", "ResiDen"]
    assert (frame.metric == "overall").all()


def test_bad_key_is_an_error_naming_the_line(tmp_path):
    text = (resources.files("oadn.report") / "published.csv").read_text()
    bad = tmp_path / "published.csv"
    bad.write_text(text.replace("rafdb-test", "raf-test", 1))
    with pytest.raises(ValueError, match="line 2: unknown published_key 'raf-test'"):
        load_published(bad)
