"""The loader: a batch is one read of the source; flips (on the device) move landmarks with the pixels; targets
follow the data set's target mode; workers, epochs and streams."""

from __future__ import annotations

import numpy as np
import torch

from oadn.common.seeding import item_keys
from oadn.data.faces import FaceBatch, FaceSource
from oadn.engine.loader import FaceDataset, make_loader, sampled_labels, to_device


class MarkerSource(FaceSource):
    """Images with one bright pixel at landmark 36 (and a dimmer one at 45); soft targets over 3 classes."""

    classes = ("a", "b", "c")

    def __init__(self, size: int = 64):
        self.size = size

    def __len__(self):
        return self.size

    def read(self, indices, epoch=0):
        indices = np.asarray(indices, dtype=np.int64)
        images = np.zeros((len(indices), 16, 16, 3), dtype=np.uint8)
        images[:, 5, 3] = 255
        images[:, 5, 12] = 100
        landmarks = np.zeros((len(indices), 68, 3), dtype=np.float32)
        landmarks[..., 2] = 1.0
        landmarks[:, 36, :2] = (3, 5)  # x=3, y=5
        landmarks[:, 45, :2] = (12, 5)
        return FaceBatch(images, landmarks, np.zeros(len(indices), np.int64), indices,
                         item_keys([f"id{i}" for i in indices]), frame=16,
                         soft_targets=np.tile(np.float32([0.7, 0.2, 0.1]), (len(indices), 1)))

    @property
    def labels(self):
        return np.zeros(self.size, dtype=np.int64)

    @property
    def image_ids(self):
        return [f"id{i}" for i in range(self.size)]

    @property
    def fingerprint(self):
        return "markers"


def on_device(batch):
    return to_device(batch, torch.device("cpu"), False, ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))


def test_a_flip_on_the_device_moves_the_marked_pixel_and_its_landmark_together():
    dataset = FaceDataset(MarkerSource(), hflip=True, seed=0)
    batch = dataset.__getitems__(list(range(32)))
    images, landmarks = on_device(batch)
    for image, points, flip in zip(images, landmarks, batch["flip"]):
        bright = image[0].numpy()
        y, x = np.unravel_index(bright.argmax(), bright.shape)
        marked = [i for i in range(68) if tuple(points[i, :2].numpy()) == (x, y)]
        # the pixel sits under point 36, or under its mirror image's identity 45 after a flip
        assert marked == ([45] if flip else [36])
    assert 8 < int(batch["flip"].sum()) < 24


def test_flips_are_a_function_of_seed_epoch_and_face():
    a, b = FaceDataset(MarkerSource(), hflip=True, seed=1), FaceDataset(MarkerSource(), hflip=True, seed=1)
    first = a.__getitems__([(i, 0) for i in range(16)])["flip"]
    assert torch.equal(first, b.__getitems__([(i, 0) for i in range(16)])["flip"])
    assert torch.equal(first[4:8], b.__getitems__([(i, 0) for i in range(4, 8)])["flip"])  # whatever the batch
    assert not torch.equal(first, b.__getitems__([(i, 1) for i in range(16)])["flip"])


def test_sample_mode_draws_labels_from_the_distribution_each_epoch():
    dataset = FaceDataset(MarkerSource(2000), hflip=False, seed=0, target_mode="sample")
    labels = dataset.__getitems__(list(range(2000)))["train_label"].numpy()
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 2000, [0.7, 0.2, 0.1], atol=0.04)
    assert (dataset.__getitems__([(i, 1) for i in range(2000)])["train_label"].numpy() != labels).any()
    assert "soft_target" not in dataset.__getitems__([0, 1])


def test_sampled_labels_invert_the_cumulative_distribution():
    probabilities = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 2.0], [1.0, 1.0, 2.0]])
    np.testing.assert_array_equal(sampled_labels(probabilities, np.array([0.49, 0.3, 0.6])), [0, 2, 2])
    np.testing.assert_array_equal(sampled_labels(probabilities, np.array([0.51, 0.99, 0.2])), [1, 2, 0])


def test_soft_mode_passes_the_distribution_and_hard_mode_ignores_it():
    soft = FaceDataset(MarkerSource(), hflip=False, seed=0, target_mode="soft").__getitems__([0, 1, 2])
    torch.testing.assert_close(soft["soft_target"][0], torch.tensor([0.7, 0.2, 0.1]))
    hard = FaceDataset(MarkerSource(), hflip=False, seed=0).__getitems__([0, 1, 2])
    assert "soft_target" not in hard and "train_label" not in hard


def test_evaluation_loaders_keep_order_and_never_flip_or_sample():
    loader = make_loader(MarkerSource(10), batch_size=4, train=False, seed=0, target_mode="sample")
    batches = list(loader)
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(10))
    assert all("train_label" not in b and "flip" not in b for b in batches)
    assert all((on_device(b)[1][:, 36, 0] == 3).all() for b in batches)


def test_balanced_sampler_draws_every_class_equally_often_and_reproducibly():
    from oadn.data.sampling import class_balanced_weights
    from oadn.engine.loader import EpochOrder

    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    order = EpochOrder(len(labels), seed=0, weights=class_balanced_weights(labels))
    drawn = labels[[index for index, _ in order.items(0)]]
    np.testing.assert_allclose(np.bincount(drawn) / len(drawn), [1 / 3] * 3, atol=0.05)
    assert order.items(0) == order.items(0)
    assert labels[[index for index, _ in order.items(1)]].tolist() != drawn.tolist()


def test_workers_yield_the_batches_of_the_main_process_in_every_epoch():
    from oadn.data.adapters.synthetic import SyntheticDataset

    source = SyntheticDataset(train_size=40, seed=2).open_split("train", image_size=24)
    here = make_loader(source, batch_size=8, train=True, seed=5, num_workers=0)
    workers = make_loader(source, batch_size=8, train=True, seed=5, num_workers=2)
    # 0 then 1 continue one stream across the epoch end; the jump back to 0 starts another
    for epoch in (0, 1, 0):
        batches = list(workers.epoch(epoch))
        assert len(batches) == len(workers) == 5
        for a, b in zip(here.epoch(epoch), batches, strict=True):
            assert torch.equal(a["index"], b["index"]) and torch.equal(a["image"], b["image"])
            assert torch.equal(a["landmarks"], b["landmarks"])
    workers.close()


def test_the_stream_runs_across_epoch_ends_with_each_epochs_own_order():
    from oadn.data.adapters.synthetic import SyntheticDataset

    source = SyntheticDataset(train_size=20, seed=2).open_split("train", image_size=24)
    loader = make_loader(source, batch_size=6, train=True, seed=1, num_workers=0)
    assert len(loader) == 3  # 20 items: three full batches, the partial one dropped
    first = [b["index"].tolist() for b in loader.epoch(0)]
    stream = loader._stream
    second = [b["index"].tolist() for b in loader.epoch(1)]
    assert loader._stream is stream  # continued, not restarted
    assert all(len(b) == 6 for b in first + second)
    assert len({i for b in first for i in b}) == 18 and first != second
    unfinished = loader.epoch(2)
    next(unfinished)
    unfinished.close()  # an epoch left unfinished: the next request starts a new stream at its own epoch
    again = [b["index"].tolist() for b in loader.epoch(2)]
    assert loader._stream is not stream
    assert again == [b["index"].tolist() for b in make_loader(source, batch_size=6, train=True, seed=1).epoch(2)]


def test_an_epoch_smaller_than_a_batch_is_one_partial_batch():
    from oadn.data.adapters.synthetic import SyntheticDataset

    source = SyntheticDataset(train_size=5, seed=2).open_split("train", image_size=24)
    loader = make_loader(source, batch_size=8, train=True, seed=1, num_workers=0)
    batches = list(loader.epoch(0))
    assert len(batches) == 1 and batches[0]["size"] == 5
