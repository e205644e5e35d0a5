"""The data path's parts that cost next to nothing per face: draws as a function of (seed, epoch, face), folders of
arrays written whole, prepared faces decoded once into a store, and the precision a run computes in."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from oadn.common.array_folder import ArrayFolder
from oadn.common.seeding import item_keys, rng_for, uniform_for
from oadn.data.prepared.store import FaceStore
from oadn.engine.device import Precision, cpu_computes_bf16, precision_for


def test_draws_depend_on_seed_epoch_stream_and_face_only():
    keys = item_keys(["a", "b", "c", "d"])
    draws = uniform_for(3, 1, "flip", keys, 2)
    assert draws.shape == (4, 2) and ((draws >= 0) & (draws < 1)).all()
    np.testing.assert_array_equal(uniform_for(3, 1, "flip", keys[[2, 0]], 2), draws[[2, 0]])  # any batch
    for other in (uniform_for(4, 1, "flip", keys, 2), uniform_for(3, 2, "flip", keys, 2),
                  uniform_for(3, 1, "occluder", keys, 2)):
        assert not np.isclose(other, draws).any()
    many = uniform_for(0, 0, "flip", np.arange(20000, dtype=np.uint64))[:, 0]
    assert abs(many.mean() - 0.5) < 0.01 and np.histogram(many, 10)[0].min() > 1800  # uniform
    assert rng_for(1, 0, "sprite", "eyes", 3).random() == rng_for(1, 0, "sprite", "eyes", 3).random()
    assert rng_for(1, 0, "sprite", "eyes", 3).random() != rng_for(1, 0, "sprite", "eyes", 4).random()
    with pytest.raises(ValueError, match=">= 0"):
        rng_for(1, 0, -2)


def test_an_array_folder_appears_whole_or_not_at_all(tmp_path):
    folder = ArrayFolder(tmp_path / "arrays")
    with pytest.raises(RuntimeError, match="killed"):
        with folder.writing({"a": ((3, 2), np.uint8)}) as draft:
            draft.arrays["a"][:] = 7
            raise RuntimeError("killed half-way")
    assert not folder.exists() and list(tmp_path.iterdir()) == []  # nothing left behind
    with folder.writing({"a": ((3, 2), np.uint8), "b": ((2,), np.float32)}) as draft:
        draft.arrays["a"][:] = 7
        draft.arrays["b"] = np.array([1.5, 2.5], np.float32)  # replaced by another array
        draft.meta = {"count": 3}
    assert folder.exists() and folder.meta() == {"count": 3}
    assert (folder.array("a") == 7).all() and folder.array("b").tolist() == [1.5, 2.5]
    assert not folder.array("a").flags.writeable
    with folder.writing({"a": ((1,), np.uint8)}) as draft:  # a second writer of the same folder finds it there
        draft.meta = {"count": 1}
    assert folder.meta() == {"count": 3}


def test_prepared_faces_are_decoded_once_into_a_store_keyed_by_what_they_depend_on(tmp_path, monkeypatch):
    paths = []
    for k in range(4):
        path = tmp_path / f"face{k}.png"
        Image.fromarray(np.full((20, 20), 40 * k, np.uint8)).save(path)
        paths.append(str(path))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    paths.append(str(tmp_path / "bad.png"))
    resize = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25]])  # 20 px -> a 10 px frame
    matrices = [resize] * 5
    unreadable = np.zeros(5, dtype=bool)

    def store(rows):
        return FaceStore(tmp_path / "cache", paths, matrices, unreadable, 10, rows)

    rows = [(p, os.path.getsize(p), os.stat(p).st_mtime_ns) for p in paths]
    decoded = []
    from oadn.data.prepared import store as store_module

    def decode(path):
        decoded.append(path)
        return store_module_decode(path)

    store_module_decode = store_module.decode_rgb
    monkeypatch.setattr(store_module, "decode_rgb", decode)
    first = store(rows)
    images = first.images
    assert images.shape == (5, 10, 10, 1)  # every face grey: one channel
    assert [int(images[k, 5, 5, 0]) for k in range(4)] == [0, 40, 80, 120]
    assert list(first.bad) == [4] and first.bad[4] and len(decoded) == 5  # the bad file named with why
    again = store(rows).images  # another process: read back, nothing decoded
    assert len(decoded) == 5 and (again == images).all()
    rows[1] = (paths[1], 999, 1)  # a file changed at the root: another store, never the stale one
    assert store(rows).key != first.key


def test_a_cpu_computes_in_bf16_only_where_its_flags_say_so(tmp_path):
    with_bf16, without = tmp_path / "a", tmp_path / "b"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_computes_bf16(with_bf16) and not cpu_computes_bf16(without)
    assert not cpu_computes_bf16(tmp_path / "missing")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert precision_for(cuda, amp=True, cpu_amp=False) == Precision(torch.bfloat16, True)
    assert precision_for(cuda, amp=False, cpu_amp=True) == Precision()
    assert precision_for(cpu, amp=True, cpu_amp=False) == Precision()
    expected = torch.bfloat16 if cpu_computes_bf16() else None
    assert precision_for(cpu, amp=False, cpu_amp=True) == Precision(expected, True)
