"""A prepared cache is held by one ``prepare`` at a time, as a run directory is held by one training: a second
``prepare`` on the same cache while the first runs is refused at once, naming the holder, instead of doing all
the work again; a cache whose holder died is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from helpers_ferplus import write_ferplus
from oadn.cli import app
from oadn.data.landmarks.base import LANDMARK_BACKENDS
from oadn.data.prepared.cache import PreparedCache

runner = CliRunner()

SLOW_BACKEND = '''
import os
import time
import numpy as np
from oadn.data.landmarks.base import ImageLandmarkBackend, register_landmark_backend


@register_landmark_backend("slow")
class Slow(ImageLandmarkBackend):
    description = "fixed points, slowly"
    provides_scores = True

    def predict(self, images, boxes):
        time.sleep(float(os.environ.get("SLOW_BACKEND_SECONDS", "0")))
        points = np.stack([np.linspace(10, 40, 68), np.linspace(40, 10, 68), np.full(68, 0.9)], 1)
        return [(points.astype(np.float32), "") for _ in images]
'''


@pytest.fixture
def isolated(isolate_registries):
    """The landmark backends and modules as they were: the slow backend this test loads does not leak."""
    isolate_registries(LANDMARK_BACKENDS)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("oadn_plugin_slow"):
            del sys.modules[name]


@pytest.mark.slow
def test_a_second_prepare_on_a_cache_in_use_is_refused_and_a_dead_holder_is_taken_over(tmp_path, isolated):
    root, cache_dir = tmp_path / "ferplus", tmp_path / "cache"
    write_ferplus(root)
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_BACKEND)
    args = ["prepare", "ferplus", "--root", str(root), "--landmarks", "slow", "--plugin", str(plugin),
            "--cache-dir", str(cache_dir), "--chunk-size", "1", "--no-progress"]
    lock = PreparedCache.locate("ferplus", root, "slow", "auto", cache_dir).directory / ".lock"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "SLOW_BACKEND_SECONDS": "0.5"}
    first = subprocess.Popen([sys.executable, "-m", "oadn", *args], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (lock.is_file() and lock.read_text().strip()):  # the first prepare holds the cache
            assert first.poll() is None and time.monotonic() < deadline, "the first prepare did not start"
            time.sleep(0.05)
        chunks_before = len(list(lock.parent.glob("chunk-*.parquet")))
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and result.output.count("error:") == 1
        text = " ".join(result.output.split())
        assert f"{lock.parent} is in use by pid={first.pid}" in text and "would do the same work again" in text
        assert first.poll() is None and len(list(lock.parent.glob("chunk-*.parquet"))) <= chunks_before + 2
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    result = runner.invoke(app, args)  # the holder is dead: its lock is taken over and the work finished
    assert result.exit_code == 0, result.output
    assert "24 images" in " ".join(result.output.split())
