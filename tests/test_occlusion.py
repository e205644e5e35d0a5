"""Pasted occluders: sprites that cover the requested share of the face, deterministic, grey on grey faces,
oracle scores exactly where they were painted; test splits painted once and kept on disk; the ``occluded``
wrapper data set; the visibility network's fit/save/load round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from oadn.common.seeding import rng_for
from oadn.data.faces import FaceSource
from oadn.data.occluders.bank import BankSpec, draw_sprite, sprite_bank, template_hull_share
from oadn.data.occluders.canvas import face_hull
from oadn.data.occluders.real import KINDS
from oadn.data.occlusion import OccludedSource
from oadn.data.registry import get_dataset

SIZES = dict(train_size=14, test_size=14, seed=1)


def plain_faces(count: int = 8):
    return get_dataset("synthetic", **SIZES).open_split("test_clean", root=None, image_size=64).read(np.arange(count))


def occluded(kind: str, area=0.3, scores: str = "oracle", split: str = "test_clean", **options):
    return get_dataset("occluded", base="synthetic", kind=kind, area=area, scores=scores, probability=1.0,
                       **{**SIZES, **options}).open_split(split, root=None, image_size=64)


@pytest.mark.parametrize("kind", KINDS[:-1])
def test_each_kinds_sprites_cover_the_requested_share_of_the_template_face(kind):
    for area in (0.15, 0.4):
        shares = [template_hull_share(draw_sprite(kind, area, rng_for(3, 0, kind, i), 64), 64) for i in range(3)]
        assert max(abs(share - area) for share in shares) < 0.04, (kind, area, shares)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["eyes", "mouth", "mask", "upper", "random"])
def test_placed_on_faces_an_occluder_covers_about_the_requested_share(kind):
    faces = plain_faces()
    painted = occluded(kind).read(np.arange(8))
    shares = []
    for i in range(8):
        hull = face_hull(faces.landmarks[i], 64)
        changed = np.any(painted.images[i] != faces.images[i], axis=-1)
        shares.append((changed & hull).sum() / hull.sum())
    assert abs(np.mean(shares) - 0.3) < 0.08, shares


@pytest.mark.slow
def test_occluders_are_deterministic_per_seed_and_image():
    a = occluded("random").read(np.arange(6))
    b = occluded("random", split="test_clean").read(np.arange(6))
    c = occluded("random", occluder_seed=1).read(np.arange(6))
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    alone = occluded("random").read(np.array([4, 1]))  # whatever else is in the batch
    np.testing.assert_array_equal(alone.images, a.images[[4, 1]])


def test_a_grey_face_gets_a_grey_occluder():
    faces = plain_faces()
    grey = np.round(faces.images.mean(axis=-1, keepdims=True)).astype(np.uint8)
    source = OccludedSource(_Fixed(dataclasses.replace(faces, images=grey)), kinds=("texture",), area=0.3,
                            probability=1.0, seed=0, scores="oracle")
    one_channel = source.read(np.arange(8))
    assert one_channel.images.shape[-1] == 1 and (one_channel.images != grey).any()
    three = np.repeat(grey, 3, axis=-1)
    source = OccludedSource(_Fixed(dataclasses.replace(faces, images=three)), kinds=("texture",), area=0.3,
                            probability=1.0, seed=0, scores="oracle")
    out = source.read(np.arange(8)).images
    assert np.ptp(out.astype(int), axis=-1).max() == 0 and (out != three).any()


class _Fixed(FaceSource):
    """A source that hands out one fixed batch."""

    def __init__(self, batch):
        self.batch, self.classes = batch, ("a",) * 7

    def __len__(self):
        return len(self.batch)

    labels = property(lambda self: self.batch.labels)
    image_ids = property(lambda self: [f"f{i}" for i in range(len(self.batch))])
    fingerprint = property(lambda self: "fixed")

    def read(self, indices, epoch=0):
        return self.batch.take(np.asarray(indices))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="kind"):
        sprite_bank(BankSpec(("umbrella",), 0.3, 0, 32))
    with pytest.raises(ValueError, match="area"):
        sprite_bank(BankSpec(("mouth",), 1.5, 0, 32))
    with pytest.raises(ValueError, match="kind"):
        get_dataset("occluded", base="synthetic", kind="mouth,umbrella")
    with pytest.raises(ValueError, match="visibility"):
        get_dataset("occluded", base="synthetic", scores="learned")


def test_oracle_scores_are_zero_exactly_where_the_occluder_was_painted():
    faces = plain_faces()
    adapter = get_dataset("occluded", base="synthetic", kind="mouth", area=0.3, scores="oracle", **SIZES)
    assert adapter.classes == get_dataset("synthetic").classes and adapter.splits[-1] == "test_occluded"
    batch = adapter.open_split("test_clean", root=None, image_size=64).read(np.arange(8))
    painted_points, unchanged = 0, 0
    for i in range(8):
        hidden, scores = batch.hidden[i], batch.landmarks[i, :, 2]
        assert hidden[48:68].sum() >= 10  # a mouth occluder hides most mouth points
        np.testing.assert_array_equal(scores == 0, hidden)  # every visible point is known to be visible
        x, y = np.rint(faces.landmarks[i, :, :2]).astype(int).T
        inside = (x >= 0) & (x < 64) & (y >= 0) & (y < 64)
        changed = np.any(batch.images[i] != faces.images[i], axis=-1)[y[inside], x[inside]]
        painted_points += int(hidden[inside].sum())  # a hidden point's pixel was painted over (unless the
        unchanged += int((~changed[hidden[inside]]).sum())  # occluder's colour there is the face's own)
    backend = get_dataset("occluded", base="synthetic", kind="mouth", area=0.3, scores="backend",
                          **SIZES).open_split("test_clean", root=None, image_size=64).read(np.arange(8))
    np.testing.assert_array_equal(backend.images, batch.images)
    np.testing.assert_array_equal(backend.landmarks, faces.landmarks)
    assert painted_points > 80 and unchanged <= 0.05 * painted_points


@pytest.mark.slow
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


def test_detector_mode_reruns_dlib_on_the_occluded_face():
    pytest.importorskip("dlib")
    from importlib.util import find_spec

    if find_spec("face_recognition_models") is None:
        pytest.skip("dlib's 68-point model (face_recognition_models) is not installed")
    from oadn.data.landmarks.rescoring import DetectorRescorer

    face = occluded("mouth")[0]
    points = DetectorRescorer()(face.image, face.landmarks)
    assert points.shape == (68, 3) and np.all(points[:, 2] == 1.0)
    assert np.all((points[:, :2] > -32) & (points[:, :2] < 96))  # in (or near) the 64 px frame


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert unknown.exit_code == 2 and "unknown data set" in unknown.output  # a usage error, as for every command


def test_a_test_split_is_painted_once_kept_on_disk_and_shared_by_its_score_modes(monkeypatch, tmp_path):
    """Columns of one occluded test set differ only in the score mode: the split is painted once for all of them
    and kept on disk, so a new process paints nothing; every mode's batches are what painting anew gives."""
    monkeypatch.setenv("OADN_CACHE", str(tmp_path))
    painted = []
    paint = OccludedSource.paint
    monkeypatch.setattr(OccludedSource, "paint", lambda self, *a, **k: painted.append(1) or paint(self, *a, **k))
    options = dict(base="synthetic", kind="mouth", area=0.3, train_size=14, test_size=6, seed=1)
    modes = ("oracle", "ones", "backend", "random-drop")
    sources = [get_dataset("occluded", scores=m, **options).open_split("test_clean", root=None, image_size=64)
               for m in modes]
    batches = [source.read(np.arange(6)) for source in sources]
    calls = len(painted)
    assert calls <= 2 and len(list((tmp_path / "occluded").iterdir())) == 1  # one split, painted once
    again = get_dataset("occluded", scores="oracle", **options).open_split("test_clean", root=None, image_size=64)
    np.testing.assert_array_equal(again.read(np.arange(6)).images, batches[0].images)
    assert len(painted) == calls  # read back from disk, as a new process reads it
    for mode, got in zip(modes, batches):
        fresh = get_dataset("occluded", scores=mode, **options).open_split("test_clean", root=None, image_size=64)
        fresh.store = None  # painted anew
        expected = fresh.read(np.arange(6))
        np.testing.assert_array_equal(got.images, expected.images)
        np.testing.assert_array_equal(got.landmarks, expected.landmarks)  # a mode's scores do not leak
        np.testing.assert_array_equal(got.hidden, expected.hidden)
    assert not np.array_equal(batches[0].landmarks, batches[1].landmarks)  # the modes do differ
    other_seed = get_dataset("occluded", scores="oracle", **{**options, "occluder_seed": 5})
    assert not np.array_equal(other_seed.open_split("test_clean", root=None, image_size=64).read(np.arange(1)).images,
                              batches[0].images[:1])  # another occluder seed is another split on disk
    assert len(list((tmp_path / "occluded").iterdir())) == 2
    train = get_dataset("occluded", scores="oracle", **options).open_split("train", root=None, image_size=64)
    assert train.store is None  # training occluders change every epoch: never kept


def test_a_kept_split_names_its_unreadable_faces_as_the_base_does(tmp_path, monkeypatch):
    monkeypatch.setenv("OADN_CACHE", str(tmp_path))
    import helpers_broken  # noqa: F401  (registers test-broken-synthetic)

    source = get_dataset("occluded", base="test-broken-synthetic", kind="mouth", area=0.3, train_size=14,
                         test_size=14, seed=1).open_split("test_clean", root=None, image_size=32)
    batch = source.read(np.arange(8))
    assert list(batch.indices) == [1, 2, 3, 4, 6, 7]
    assert [bad[0] for bad in batch.bad] == [source.image_ids[0], source.image_ids[5]]
    assert "truncated JPEG" in batch.bad[0][2]


def test_a_face_pixel_samples_the_canvas_where_the_inverse_similarity_puts_it():
    from oadn.data.occluders.paste import _grid

    a, b = np.array([0.8 * np.exp(0.3j), 1.3]), np.array([5 - 2j, -3 + 4j])
    grid = _grid(a, b, 32, 48).numpy()
    for face in range(2):
        for x, y in ((0, 0), (31, 5), (12, 27)):
            q = (x + 1j * y - b[face]) / a[face]  # the canvas pixel the similarity takes to (x, y)
            np.testing.assert_allclose(grid[face, y, x], [(2 * q.real + 1) / 48 - 1, (2 * q.imag + 1) / 48 - 1],
                                       atol=1e-5)
