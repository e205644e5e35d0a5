"""The loader: flips move landmarks with the pixels, targets follow the data set's target mode."""

from __future__ import annotations

import numpy as np
import torch

from oadn.data.faces import FaceRecord
from oadn.engine.loader import FaceDataset, collate_faces, make_loader


class MarkerSource:
    """Images with one bright pixel at landmark 36; soft targets over 3 classes."""

    classes = ("a", "b", "c")

    def __init__(self, size: int = 64):
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        image = np.zeros((16, 16, 3), dtype=np.uint8)
        landmarks = np.zeros((68, 3), dtype=np.float32)
        landmarks[:, 2] = 1.0
        landmarks[36, :2] = (3, 5)  # x=3, y=5
        landmarks[45, :2] = (12, 5)
        image[5, 3] = 255
        return FaceRecord(image, landmarks, 0, f"id{index}", soft_target=np.array([0.7, 0.2, 0.1]))

    @property
    def labels(self):
        return np.zeros(self.size, dtype=np.int64)

    @property
    def image_ids(self):
        return [f"id{i}" for i in range(self.size)]


def test_flip_moves_the_marked_pixel_and_its_landmark_together():
    dataset = FaceDataset(MarkerSource(), hflip=True, seed=0)
    flipped = 0
    for index in range(32):
        item = dataset[index]
        image = item["image"][0].numpy()
        y, x = np.unravel_index(image.argmax(), image.shape)
        marked = [i for i in range(68) if tuple(item["landmarks"][i, :2].numpy()) == (x, y)]
        # the pixel sits under point 36, or under its mirror image's identity 45 after a flip
        assert marked == [36] or marked == [45]
        flipped += marked == [45]
    assert 8 < flipped < 24


def test_flips_are_a_function_of_seed_epoch_and_index():
    a, b = FaceDataset(MarkerSource(), hflip=True, seed=1), FaceDataset(MarkerSource(), hflip=True, seed=1)
    assert all(torch.equal(a[i]["landmarks"], b[(i, 0)]["landmarks"]) for i in range(16))
    assert not all(torch.equal(a[i]["landmarks"], b[(i, 1)]["landmarks"]) for i in range(16))


def test_sample_mode_draws_labels_from_the_distribution_each_epoch():
    dataset = FaceDataset(MarkerSource(2000), hflip=False, seed=0, target_mode="sample")
    labels = np.array([dataset[i]["train_label"] for i in range(2000)])
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 2000, [0.7, 0.2, 0.1], atol=0.04)
    assert (np.array([dataset[(i, 1)]["train_label"] for i in range(2000)]) != labels).any()
    batch = collate_faces([dataset[i] for i in range(4)])
    assert "train_label" in batch and "soft_target" not in batch


def test_soft_mode_passes_the_distribution_and_hard_mode_ignores_it():
    soft = collate_faces([FaceDataset(MarkerSource(), hflip=False, seed=0, target_mode="soft")[i] for i in range(3)])
    torch.testing.assert_close(soft["soft_target"][0], torch.tensor([0.7, 0.2, 0.1]))
    hard = collate_faces([FaceDataset(MarkerSource(), hflip=False, seed=0)[i] for i in range(3)])
    assert "soft_target" not in hard and "train_label" not in hard


def test_evaluation_loaders_keep_order_and_never_flip_or_sample():
    loader = make_loader(MarkerSource(10), batch_size=4, train=False, seed=0, target_mode="sample")
    batches = list(loader)
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(10))
    assert all("train_label" not in b for b in batches)
    assert all((b["landmarks"][:, 36, 0] == 3).all() for b in batches)


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
