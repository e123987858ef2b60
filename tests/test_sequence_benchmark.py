"""The sequence benchmark's frames are composited as a camera records them."""

from __future__ import annotations

import numpy as np

from benchmarks.lite_sequence import make_sequence


def test_frames_blend_the_subjects_own_colour_not_the_photos_old_background():
    """A red disc photographed over blue, its edge soft: in the benchmark's frames the edge is
    alpha × red + (1 − alpha) × the new scene.  Compositing the photo itself blended the old
    blue in a second time at the edge (blue (1 − α)(1 + α) instead of 1 − α)."""
    height, width = 120, 160
    rows, columns = np.indices((height, width))
    radius = np.hypot(rows - 60, columns - 80)
    alpha = np.clip((34 - radius) / 6, 0, 1).astype(np.float32)  # a 6 px soft edge
    red, blue = np.float32([1, 0, 0]), np.float32([0, 0, 1])
    photo = alpha[..., None] * red + (1 - alpha[..., None]) * blue
    rng = np.random.default_rng(0)
    elsewhere = rng.uniform(0, 1, (height, width, 3)).astype(np.float32)
    sequence = make_sequence("disc", photo, alpha, elsewhere, elsewhere, 6, rng)
    frame, truth = sequence.frames[0], sequence.alphas[0]  # not moved yet, over blue
    soft = (truth > 0.2) & (truth < 0.8)
    assert soft.sum() > 100
    assert np.abs(frame[..., 2][soft] - (1 - truth[soft])).mean() < 0.03
    assert np.abs(frame[..., 0][soft] - truth[soft]).mean() < 0.03
