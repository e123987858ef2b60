"""The feature cache: what it returns equals a fresh pass, it stays within its bound, and
flips act on cached features as on the picture."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from icm_core import synthetic  # noqa: E402
from icm_core.icm.extractor import Draws  # noqa: E402
from icm_core.train.cache import FeatureCache, content_key  # noqa: E402
from icm_core.train.features import Backbone, flip_attention, model_input  # noqa: E402
from tests.icm.tiny import TINY_SIZE  # noqa: E402


def canvas(index: int) -> np.ndarray:
    return synthetic.scene(index, (TINY_SIZE, TINY_SIZE), seed=9).image


def fresh(backbone: Backbone, picture: np.ndarray, draw: int):
    """The same pass as the backbone's, computed directly from the extractor."""
    pixels = model_input(picture)
    key = content_key(backbone.identity, pixels.numpy().tobytes(), f"draw {draw}")
    generator = torch.Generator().manual_seed(int(key[:15], 16))
    shape = backbone.extractor.latent_shape(TINY_SIZE, 1)
    return backbone.extractor.target_features(pixels, Draws.sample(shape, generator))


def flat(features):
    return [features.correspondence, *features.attention, *features.matting]


def test_cached_features_equal_fresh_ones(tiny_extractor, tmp_path):
    backbone = Backbone(tiny_extractor, FeatureCache(tmp_path, 10**9, torch.float32))
    first = backbone.features(canvas(0), draw=1)
    assert backbone.computed == 1 and backbone.cache.misses == 1
    again = Backbone(tiny_extractor, FeatureCache(tmp_path, 10**9, torch.float32))
    cached = again.features(canvas(0), draw=1)
    assert again.computed == 0 and again.cache.hits == 1
    expected = fresh(backbone, canvas(0), 1)
    for a, b, c in zip(flat(first), flat(cached), flat(expected)):
        assert torch.equal(a, c) and torch.equal(b, c)
    other_draw = backbone.features(canvas(0), draw=0)
    assert not torch.equal(other_draw.correspondence, first.correspondence)
    assert backbone.computed == 2


def test_float16_cache_is_close_and_used_from_the_first_time(tiny_extractor, tmp_path):
    backbone = Backbone(tiny_extractor, FeatureCache(tmp_path, 10**9, torch.float16))
    first = backbone.features(canvas(1))
    cached = backbone.features(canvas(1))
    expected = fresh(backbone, canvas(1), 0)
    for a, b, c in zip(flat(first), flat(cached), flat(expected)):
        assert torch.equal(a, b)  # the run sees the stored values, fresh or not
        assert (a - c).abs().max() <= 1e-3 * c.abs().max()


def test_size_bound_evicts_least_recently_used(tiny_extractor, tmp_path):
    probe = Backbone(tiny_extractor, FeatureCache(tmp_path / "probe", 10**9, torch.float32))
    probe.features(canvas(0))
    entry = probe.cache.size_bytes()
    bounded = FeatureCache(tmp_path / "c", int(2.5 * entry), torch.float32)
    backbone = Backbone(tiny_extractor, bounded)
    for index in range(4):
        backbone.features(canvas(index))
    files = list((tmp_path / "c").glob("*/*.safetensors"))
    assert len(files) == 2 and backbone.cache.size_bytes() <= 2.5 * entry
    backbone.features(canvas(3))  # the newest survived
    assert backbone.computed == 4
    backbone.features(canvas(0))  # the oldest was evicted
    assert backbone.computed == 5


def test_damaged_entry_is_recomputed(tiny_extractor, tmp_path):
    backbone = Backbone(tiny_extractor, FeatureCache(tmp_path, 10**9, torch.float32))
    good = backbone.features(canvas(2))
    (entry,) = tmp_path.glob("*/*.safetensors")
    entry.write_bytes(entry.read_bytes()[:100])
    again = backbone.features(canvas(2))
    assert backbone.computed == 2 and torch.equal(good.correspondence, again.correspondence)


def test_flip_mirrors_query_and_key_grids():
    side = 3
    attention = torch.zeros(1, side, side, side * side)
    attention[0, 0, 0, 1 * side + 2] = 1.0  # query (0, 0) looks at key (1, 2)
    flipped = flip_attention(attention)
    assert flipped[0, 0, side - 1, 1 * side + 0] == 1.0 and flipped.sum() == 1.0
    assert torch.equal(flip_attention(flipped), attention)
