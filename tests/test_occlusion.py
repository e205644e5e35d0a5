"""Pasted occluders: deterministic, the requested share of the face, oracle scores from the mask; the
``occluded`` wrapper data set; the visibility network's fit/save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oadn.data.occluders.canvas import face_hull, points_under
from oadn.data.occluders.real import KINDS, image_rng, occlude
from oadn.data.registry import get_dataset


@pytest.fixture(scope="module")
def face():
    source = get_dataset("synthetic", train_size=14, test_size=14, seed=1).open_split(
        "test_clean", root=None, image_size=64)
    return source[0]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_covers_the_requested_share_of_the_face(face, kind):
    hull = face_hull(face.landmarks, 64)
    for area in (0.15, 0.4):
        occlusion = occlude(face.image, face.landmarks, kind, area, image_rng(3, face.image_id))
        share = (occlusion.mask & hull).sum() / hull.sum()
        assert abs(share - area) < 0.05, (kind, area, share)
        changed = np.any(occlusion.image != face.image, axis=-1)
        assert changed[occlusion.mask].mean() > 0.9  # the mask is where pixels were painted


def test_occluders_are_deterministic_per_seed_and_image(face):
    a = occlude(face.image, face.landmarks, "random", 0.3, image_rng(0, face.image_id))
    b = occlude(face.image, face.landmarks, "random", 0.3, image_rng(0, face.image_id))
    c = occlude(face.image, face.landmarks, "random", 0.3, image_rng(1, face.image_id))
    assert np.array_equal(a.image, b.image) and a.kind == b.kind
    assert not np.array_equal(a.image, c.image)


def test_a_grey_face_gets_a_grey_occluder(face):
    grey = np.repeat(face.image.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    out = occlude(grey, face.landmarks, "texture", 0.3, image_rng(0, "x")).image
    assert np.ptp(out.astype(int), axis=-1).max() <= 1


def test_bad_input_is_refused(face):
    with pytest.raises(ValueError, match="kind"):
        occlude(face.image, face.landmarks, "umbrella", 0.3, image_rng(0, "x"))
    with pytest.raises(ValueError, match="area"):
        occlude(face.image, face.landmarks, "mouth", 1.5, image_rng(0, "x"))
    with pytest.raises(ValueError, match="kind"):
        get_dataset("occluded", base="synthetic", kind="mouth,umbrella")
    with pytest.raises(ValueError, match="visibility"):
        get_dataset("occluded", base="synthetic", scores="learned")


def test_oracle_scores_are_zero_exactly_under_the_mask():
    plain = get_dataset("synthetic", train_size=14, test_size=14, seed=1).open_split(
        "test_clean", root=None, image_size=64)
    adapter = get_dataset("occluded", base="synthetic", kind="mouth", area=0.3, scores="oracle", train_size=14,
                          test_size=14, seed=1)
    assert adapter.classes == get_dataset("synthetic").classes and adapter.splits[-1] == "test_occluded"
    source = adapter.open_split("test_clean", root=None, image_size=64)
    record = source[2]
    _, mask = source.occlude_record(plain[2])
    under = points_under(mask, record.landmarks)
    assert under[48:68].sum() >= 10  # a mouth occluder hides most mouth points
    assert np.all(record.hidden[under]) and np.all(record.landmarks[record.hidden, 2] == 0)
    assert np.all(record.landmarks[~record.hidden, 2] == 1)  # every visible point is known to be visible
    assert (record.hidden & ~under).sum() <= 2  # the rest of the truth: points off the image
    backend = get_dataset("occluded", base="synthetic", kind="mouth", area=0.3, scores="backend", train_size=14,
                          test_size=14, seed=1).open_split("test_clean", root=None, image_size=64)[2]
    np.testing.assert_array_equal(backend.image, record.image)
    np.testing.assert_array_equal(backend.landmarks, plain[2].landmarks)


def test_fit_visibility_saves_a_model_the_occluded_data_set_can_use(tmp_path):
    from oadn.data.landmarks.visibility import VisibilityScorer
    from oadn.preprocess.visibility_fit import FitSettings, fit_visibility

    data = get_dataset("synthetic", train_size=60, test_size=28, seed=2)
    train = data.open_split("train", root=None, image_size=32)
    test = data.open_split("test_clean", root=None, image_size=32)
    settings = FitSettings(dataset="synthetic", image_size=32, samples=40, eval_samples=20, epochs=1, batch_size=16)
    metrics = fit_visibility(train, test, settings, tmp_path / "vis.pt", progress=False, log=lambda *_: None)
    assert 0.0 <= metrics["point_auc_heldout_kinds"] <= 1.0
    scorer = VisibilityScorer.load(tmp_path / "vis.pt")
    assert scorer.settings["holdout_kinds"] == ["hand", "scarf", "hair"] and "metrics" in scorer.settings
    # a second call resumes from the work files and gives the same model
    again = fit_visibility(train, test, settings, tmp_path / "vis.pt", progress=False, log=lambda *_: None)
    assert again == metrics
    source = get_dataset("occluded", base="synthetic", kind="eyes", scores="learned",
                         visibility=str(tmp_path / "vis.pt"), train_size=60, test_size=28,
                         seed=2).open_split("test_clean", root=None, image_size=64)
    scores = source[0].landmarks[:, 2]
    assert scores.shape == (68,) and np.all((scores >= 0) & (scores <= 1)) and np.ptp(scores) > 0
    with pytest.raises(ValueError, match="format"):
        (tmp_path / "junk.pt").write_bytes(b"")
        import torch

        torch.save({"x": 1}, tmp_path / "junk.pt")
        VisibilityScorer.load(tmp_path / "junk.pt")


def test_prepare_visibility_wraps_an_image_backend_and_keys_its_own_cache(tmp_path):
    from oadn.data.landmarks.base import ImageLandmarkBackend, LandmarkBackendError
    from oadn.data.landmarks.visibility import VisibilityNet, save_model
    from oadn.preprocess.visibility_backend import with_visibility

    class AllOnes(ImageLandmarkBackend):
        name, description, provides_scores = "fake", "fake backend", False

        def predict(self, images, boxes):  # a face without points in the middle of the batch
            rng = np.random.default_rng(0)
            points = [np.concatenate([rng.uniform(60, 160, (68, 2)), np.ones((68, 1))], axis=1) for _ in images]
            return [(None, "no face") if i == 1 else (p.astype(np.float32), "") for i, p in enumerate(points)]

    save_model(VisibilityNet(8, 4), {"image_size": 32, "width": 8, "embed": 4}, tmp_path / "v.pt")
    backend, spec = with_visibility(AllOnes(), "dlib", tmp_path / "v.pt")
    assert spec == f"dlib+visibility:{(tmp_path / 'v.pt').resolve()}" and "visibility model" in backend.description
    faces = np.random.default_rng(1).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    (points, _), missing, (last, _) = backend.predict(faces, [None] * 3)
    assert points.shape == (68, 3) and np.all((points[:, 2] > 0) & (points[:, 2] < 1)) and missing == (None, "no face")
    inner = AllOnes().predict(faces, [None] * 3)  # scored in one batch as each face alone would be
    np.testing.assert_allclose(last, backend.scorer(faces[2], inner[2][0]), rtol=1e-5, atol=1e-6)
    assert with_visibility(AllOnes(), "dlib", None)[1] == "dlib"
    with pytest.raises(LandmarkBackendError, match="image landmark backend"):
        with_visibility(object(), "dataset", tmp_path / "v.pt")


def test_train_limit_keeps_a_fixed_draw_of_training_faces_only():
    options = dict(base="synthetic", kind="none", train_size=40, test_size=14, seed=1)
    limited = get_dataset("occluded", train_limit=10, **options)
    train = limited.open_split("train", root=None, image_size=32)
    assert (len(train) == 10
            and list(train.image_ids) == list(limited.open_split("train", root=None, image_size=32).image_ids))
    assert len(limited.open_split("test_clean", root=None, image_size=32)) == 14


def test_detector_mode_reruns_dlib_on_the_occluded_face(face):
    pytest.importorskip("dlib")
    from importlib.util import find_spec

    if find_spec("face_recognition_models") is None:
        pytest.skip("dlib's 68-point model (face_recognition_models) is not installed")
    from oadn.data.landmarks.rescoring import DetectorRescorer

    occluded = occlude(face.image, face.landmarks, "mouth", 0.3, image_rng(0, face.image_id)).image
    points = DetectorRescorer()(occluded, face.landmarks)
    assert points.shape == (68, 3) and np.all(points[:, 2] == 1.0)
    assert np.all((points[:, :2] > -32) & (points[:, :2] < 96))  # in (or near) the 64 px frame


def test_fit_visibility_trains_on_fewer_examples_than_a_batch(tmp_path, monkeypatch):
    """A training set smaller than one batch is one short batch an epoch, not an epoch without a step (which
    would save and judge an untrained model)."""
    from oadn.preprocess.visibility_fit import FitSettings, fit_visibility

    steps = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: steps.append(1) or step(self, *a, **k))
    data = get_dataset("synthetic", train_size=30, test_size=28, seed=2)
    train, test = (data.open_split(split, root=None, image_size=32) for split in ("train", "test_clean"))
    settings = FitSettings(dataset="synthetic", image_size=32, samples=10, eval_samples=20, epochs=2, batch_size=16)
    fit_visibility(train, test, settings, tmp_path / "vis.pt", progress=False, log=lambda *_: None)
    assert len(steps) == 2


def test_fit_visibility_command_runs_end_to_end_and_names_an_unknown_data_set(tmp_path):
    from typer.testing import CliRunner

    from oadn.cli import app

    runner = CliRunner()
    out = tmp_path / "vis.pt"
    args = ["fit-visibility", "synthetic", "-o", "train_size=48", "-o", "test_size=28", "--samples", "48",
            "--eval-samples", "28", "--epochs", "1", "--image-size", "32", "--out", str(out), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.is_file() and "per-point AUC" in result.output
    unknown = runner.invoke(app, ["fit-visibility", "no-such-set", "--out", str(tmp_path / "x.pt"), "--no-progress"])
    assert unknown.exit_code == 1 and "unknown data set" in unknown.output


def test_a_test_split_is_occluded_once_and_shared_by_its_score_modes(monkeypatch):
    """Columns of one occluded test set differ only in the score mode: each face's occluder is pasted once for
    all of them, and every mode's records are what a fresh, unmemoised source gives."""
    import oadn.data.occlusion as occlusion
    from oadn.data.occlusion_memo import OcclusionMemo

    monkeypatch.setattr(occlusion, "TEST_OCCLUSIONS", OcclusionMemo())
    pasted = []
    original = occlusion.occlude
    monkeypatch.setattr(occlusion, "occlude", lambda *a, **k: pasted.append(1) or original(*a, **k))
    options = dict(base="synthetic", kind="mouth", area=0.3, train_size=14, test_size=6, seed=1)
    modes = ("oracle", "ones", "backend", "random-drop")
    memoised = [get_dataset("occluded", scores=m, **options).open_split("test_clean", root=None, image_size=64)
                for m in modes]
    records = [[source[i] for i in range(6)] for source in memoised]
    assert len(pasted) == 6  # four sources, six faces, one paste each
    for mode, got in zip(modes, records):
        fresh = get_dataset("occluded", scores=mode, **options).open_split("test_clean", root=None, image_size=64)
        fresh.memo_key = None
        for i, record in enumerate(got):
            expected = fresh[i]
            np.testing.assert_array_equal(record.image, expected.image)
            np.testing.assert_array_equal(record.landmarks, expected.landmarks)  # a mode's scores do not leak
            np.testing.assert_array_equal(record.hidden, expected.hidden)
    assert not np.array_equal(records[0][0].landmarks, records[1][0].landmarks)  # the modes do differ
    other_seed = get_dataset("occluded", scores="oracle", **{**options, "occluder_seed": 5})
    assert not np.array_equal(other_seed.open_split("test_clean", root=None, image_size=64)[0].image,
                              records[0][0].image)  # another occluder seed is another key
    train = get_dataset("occluded", scores="oracle", **options).open_split("train", root=None, image_size=64)
    assert train.memo_key is None  # training occluders change every epoch: never memoised


def test_the_occlusion_memo_drops_the_least_recently_used_split_past_its_budget():
    from oadn.data.faces import FaceRecord
    from oadn.data.occlusion_memo import OcclusionMemo

    def make(value):
        return lambda: FaceRecord(image=np.full((10, 10, 3), value, np.uint8), landmarks=np.zeros((68, 3), np.float32),
                                  label=0, image_id=str(value))

    one_record = 300 + 68 * 3 * 4
    memo = OcclusionMemo(budget=3 * one_record)
    memo.record("a", 0, make(1))
    memo.record("b", 0, make(2))
    memo.record("a", 1, make(3))  # "a" is now the most recently used
    memo.record("c", 0, make(4))  # over budget: "b" goes
    made = []
    memo.record("a", 0, lambda: made.append("a") or make(9)())
    memo.record("b", 0, lambda: made.append("b") or make(9)())
    assert made == ["b"]
    record = memo.record("a", 0, make(9))
    assert record.image[0, 0, 0] == 1 and not record.image.flags.writeable
