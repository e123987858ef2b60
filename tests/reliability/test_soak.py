"""A short soak in CI (the 200-target one with RSS figures is benchmarks/reliability.py):
a long lite series in one process leaks no thread and no open file, and identical inputs
give identical alphas from the first target to the last."""

from __future__ import annotations

import os
import threading

import numpy as np

from icm_core import synthetic
from icm_core.engines import get_engine


def _open_files() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_long_series_leaks_nothing_and_repeats_itself():
    engine = get_engine("lite", feature_side=128, matting_side=256)
    reference = synthetic.scene(0, (48, 64))
    encoded = engine.encode_reference(reference.image, (reference.alpha > 0.5).astype(np.float32))
    scenes = [synthetic.scene(i + 1, (48, 64)).image for i in range(5)]
    first = [engine.matte(image, encoded).alpha for image in scenes]  # warm: lazy imports, pools
    threads, files = threading.active_count(), _open_files()
    for index in range(30):
        alpha = engine.matte(scenes[index % 5], encoded).alpha
        assert np.array_equal(alpha, first[index % 5]), f"target {index} differs"
    assert threading.active_count() == threads
    assert _open_files() <= files
