"""FERPlus and its RAN subsets against the real copy in ../shared/data (counts recomputed here from the votes)."""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from oadn.data.cli import app
from oadn.data.labels import CANONICAL_CLASSES
from oadn.data.registry import get_dataset

pytestmark = pytest.mark.slow  # reads the real FERPlus copy

FOLDERS = {"FER2013Train": "train", "FER2013Valid": "val", "FER2013Test": "test"}
COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
QUIRK = ("FER2013Test", "fer0033120.png")
SUBSETS = {"occlusion-ferplus": 605, "pose30-ferplus": 1170, "pose45-ferplus": 633}


@pytest.fixture(scope="module")
def ferplus(shared_data: Path) -> Path:
    return shared_data / "ferplus"


@pytest.fixture(scope="module")
def raw_votes(ferplus: Path) -> dict[str, list[tuple[str, list[int]]]]:
    out = {}
    for folder in FOLDERS:
        with open(ferplus / folder / "label.csv", newline="") as handle:
            out[folder] = [(row[0], [int(v) for v in row[2:]]) for row in csv.reader(handle)]
    return out


# --- a deliberately plain re-statement of each rule, one image at a time ---------------------------------------

def expect_majority(votes: list[int]) -> str | None:
    kept = [v if v > 1 else 0 for v in votes]
    best = max(range(10), key=lambda i: (kept[i], -i))
    if kept[best] > sum(kept) / 2 and best < 8:
        return COLUMNS[best]
    return None


def expect_plurality(votes: list[int]) -> str | None:
    top = max(votes)
    winners = [i for i in range(10) if votes[i] == top]
    if len(winners) == 1 and winners[0] < 8 and top > 0:
        return COLUMNS[winners[0]]
    return None


def expect_distribution(votes: list[int]) -> dict[str, float] | None:
    kept = [v if v > 1 else 0 for v in votes]
    total = sum(kept)
    taken: dict[int, int] = {}
    levels = sorted({v for v in kept if v > 0}, reverse=True)
    for level in levels:
        if sum(taken.values()) >= 0.75 * total or len(taken) >= 3:
            break
        hit_unknown = False
        for i in range(10):
            if kept[i] != level:
                continue
            if i >= 8:
                if not taken:
                    return None
                hit_unknown = True
                break
            taken[i] = level
        if hit_unknown:
            break
    if sum(taken.values()) <= 0.5 * total or len(taken) > 3:
        return None
    norm = sum(taken.values())
    return {COLUMNS[i]: v / norm for i, v in taken.items()}


def expected_counts(raw, rule) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    for folder, rows in raw.items():
        counter = Counter()
        for name, votes in rows:
            if (folder, name) == QUIRK:
                continue
            result = rule(votes)
            if isinstance(result, dict):
                result = max(result, key=lambda k: (result[k], -COLUMNS.index(k)))
            if result is not None:
                counter[result] += 1
        counts[FOLDERS[folder]] = counter
    return counts


RULES = {"majority": expect_majority, "plurality": expect_plurality,
         "probability": expect_distribution, "crossentropy": expect_distribution}


@pytest.fixture(scope="module")
def indexes(ferplus: Path):
    return {mode: get_dataset("ferplus", label_mode=mode).index(ferplus)
            for mode in ("majority", "plurality", "probability")}


def test_raw_row_counts(raw_votes):
    assert {f: len(rows) for f, rows in raw_votes.items()} == {"FER2013Train": 28558, "FER2013Valid": 3579,
                                                               "FER2013Test": 3573}


@pytest.mark.parametrize("mode", ["majority", "plurality", "probability"])
def test_counts_per_split_and_class(mode, raw_votes, indexes):
    df = indexes[mode]
    expected = expected_counts(raw_votes, RULES[mode])
    for split, counter in expected.items():
        got = Counter(CANONICAL_CLASSES[i] for i in df.loc[df["split"] == split, "label"])
        assert got == counter, (mode, split)
    assert df["image_id"].is_unique
    assert QUIRK[1] not in set(df.loc[df["split"] == "test", "image_id"])


def test_majority_hard_facts(indexes):
    sizes = indexes["majority"]["split"].value_counts().to_dict()
    assert sizes == {"train": 25045, "val": 3191, "test": 3136}
    assert "soft_target" not in indexes["majority"].columns


def test_soft_targets(raw_votes, indexes):
    df = indexes["probability"]
    assert set(df["target_mode"]) == {"sample"}
    targets = np.stack(df["soft_target"].to_numpy())
    assert targets.shape[1] == 8 and np.allclose(targets.sum(axis=1), 1.0)
    assert np.allclose(targets[np.arange(len(df)), df["label"].to_numpy()], targets.max(axis=1))  # label = an arg-max
    row = df.set_index("image_id").loc["fer0000000.png"]  # votes 4,0,0,1,3,2,0,0,0,0 -> neutral 4, anger 3, disgust 2
    expected = expect_distribution(dict(raw_votes["FER2013Train"])["fer0000000.png"])
    assert {CANONICAL_CLASSES[i]: p for i, p in enumerate(row["soft_target"]) if p} == pytest.approx(expected)
    assert get_dataset("ferplus", label_mode="crossentropy").target_mode == "soft"


def test_ran_protocol_merges_train_and_valid(ferplus, indexes):
    ran = get_dataset("ferplus", protocol="ran").index(ferplus)
    official = indexes["majority"]["split"].value_counts()
    assert ran["split"].value_counts().to_dict() == {"train": official["train"] + official["val"],
                                                     "test": official["test"]}


@pytest.mark.parametrize("name,lines", SUBSETS.items())
def test_ran_subsets(name, lines, ferplus, shared_data):
    adapter = get_dataset(name)
    shipped = adapter.list_file.read_bytes()
    assert shipped == (shared_data / "ran_lists"
                       / adapter.list_file.relative_to(adapter.list_file.parents[1])).read_bytes()
    assert len(shipped.splitlines()) == lines
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = adapter.index(ferplus)
    assert len(df) == lines and set(df["split"]) == {"test"} and set(df["subset"]) == {name}


def test_cli_check_majority_and_subset(ferplus, tmp_path):
    runner = CliRunner()
    listing = tmp_path / "problems.txt"
    result = runner.invoke(app, ["check", "ferplus", "--root", str(ferplus), "--no-verify-images",
                                 "--problems-file", str(listing)])
    assert result.exit_code == 0, result.output
    assert "25045" in result.output and "3136" in result.output and "OK" in result.output
    assert "FER2013Test/label.csv:898" in result.output  # the known quirk, located
    # 1,601 vote differences: one summary line with a count and three examples, the full list in a file
    assert "1601 x label.csv votes differ from fer2013new.csv" in result.output
    assert result.output.count("differ from fer2013new.csv line") == 3
    assert "full list of 1603 problem(s):" in result.output
    assert len(listing.read_text().splitlines()) == 1603
    result = runner.invoke(app, ["check", "occlusion-ferplus", "--root", str(ferplus), "--no-verify-images",
                                 "--problems-file", str(listing)])
    assert result.exit_code == 0, result.output
    assert "605" in result.output


def test_a_vote_count_too_large_is_named_with_file_and_line(tmp_path):
    for folder in FOLDERS:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "label.csv").write_text('fer0000001.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0\n')
    with open(tmp_path / "FER2013Train" / "label.csv", "a") as handle:
        handle.write('fer0000002.png,"(0, 0, 48, 48)",99999999999999999999,0,0,0,0,0,0,0,0,0\n')
    with pytest.raises(ValueError, match=r"FER2013Train/label.csv:2: vote count 99999999999999999999 out of range"):
        get_dataset("ferplus").index(tmp_path)


def test_preparation_covers_every_image_whatever_the_label_mode(ferplus: Path, indexes):
    """One prepared cache serves every label mode: prepare sees all 35,710 label.csv rows."""
    for mode in ("majority", "probability"):
        every = get_dataset("ferplus", label_mode=mode).preparation_index(ferplus)
        assert len(every) == 28558 + 3579 + 3573
        assert set(indexes[mode]["image_id"]) <= set(every["image_id"])
