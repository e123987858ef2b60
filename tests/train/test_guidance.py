"""Reference guidance styles sampled from a ground-truth alpha."""

from __future__ import annotations

import numpy as np
import pytest

from icm_core import synthetic
from icm_core.api import InvalidInput
from icm_core.train.guidance import STYLES, guidance_mask, pick_style

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def alpha():
    return synthetic.scene(0, (160, 200), seed=4).alpha


@pytest.mark.parametrize("seed", range(5))
def test_styles_relate_to_the_subject(alpha, seed):
    exact = alpha >= 0.5
    masks = {s: guidance_mask(alpha, s, np.random.default_rng(seed)) for s in STYLES}
    for style, mask in masks.items():
        assert mask.dtype == np.float32 and mask.shape == alpha.shape
        assert set(np.unique(mask)) <= {0.0, 1.0}, style
        assert mask.any(), style
    on = {s: m > 0.5 for s, m in masks.items()}
    assert (on["exact"] == exact).all()
    assert (on["eroded"] <= exact).all() and on["eroded"].sum() < exact.sum()
    assert (on["dilated"] >= exact).all() and on["dilated"].sum() > exact.sum()
    for style in ("scribble", "partial"):  # a stroke or a part inside the subject only
        assert (on[style] <= exact).all() and on[style].sum() < 0.85 * exact.sum(), style
    assert 0.2 < on["partial"].sum() / exact.sum() < 0.8


def test_same_generator_same_mask(alpha):
    for style in STYLES:
        first = guidance_mask(alpha, style, np.random.default_rng(3))
        assert np.array_equal(first, guidance_mask(alpha, style, np.random.default_rng(3)))


def test_empty_subject_and_unknown_style(alpha):
    empty = np.zeros_like(alpha)
    for style in STYLES:
        assert not guidance_mask(empty, style, np.random.default_rng(0)).any()
    with pytest.raises(InvalidInput, match="scribble"):
        guidance_mask(alpha, "lasso", np.random.default_rng(0))


def test_pick_style_follows_the_odds():
    rng = np.random.default_rng(0)
    picks = [pick_style({"exact": 3.0, "scribble": 1.0, "partial": 0.0}, rng) for _ in range(400)]
    assert set(picks) == {"exact", "scribble"}
    assert 0.65 < picks.count("exact") / 400 < 0.85
