"""Letterbox fitting and resizing: properties over many sizes, plus the odd cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icm_core.geometry import Letterbox, resize, scale_to_fit

sides = st.integers(1, 5000)
canvas_sides = st.integers(1, 2048)


@given(h=sides, w=sides, ch=canvas_sides, cw=canvas_sides)
def test_fit_keeps_aspect_fills_one_side_and_stays_inside(h, w, ch, cw):
    box = Letterbox.fit((h, w), (ch, cw))
    inner_h, inner_w = box.inner
    assert 1 <= inner_h <= ch and 1 <= inner_w <= cw
    assert inner_h == ch or inner_w == cw  # scaled as large as fits
    # aspect kept within rounding: each side is the exact scaled side rounded (or 1 px minimum)
    for inner, side in ((inner_h, h), (inner_w, w)):
        assert abs(inner - side * box.scale) <= 0.5 + 1e-9 or (inner == 1 and side * box.scale < 1)
    assert box.scale == pytest.approx(min(ch / h, cw / w))
    # centred: the padding on either side differs by at most one pixel
    bottom, right = ch - inner_h - box.top, cw - inner_w - box.left
    assert 0 <= box.top <= bottom <= box.top + 1 and 0 <= box.left <= right <= box.left + 1
    rows, cols = box.valid()
    assert rows.stop <= ch and cols.stop <= cw


@settings(max_examples=40, deadline=None)
@given(h=sides, w=sides, canvas=st.integers(1, 512), value=st.integers(0, 255))
def test_crop_back_returns_the_source_size_and_a_constant_exactly(h, w, canvas, value):
    box = Letterbox.fit((h, w), canvas)
    source = np.full((h, w), value, np.uint8)
    fitted = box.apply(source, fill=0)
    assert fitted.shape == (canvas, canvas)
    back = box.crop_back(fitted)
    assert back.shape == (h, w) and back.dtype == np.uint8
    assert (back == value).all()


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), ch=st.integers(1, 200), cw=st.integers(1, 200),
       channels=st.sampled_from([None, 1, 3]), value=st.floats(0, 1, width=32))
def test_constant_float_image_round_trips_exactly(h, w, ch, cw, channels, value):
    shape = (h, w) if channels is None else (h, w, channels)
    source = np.full(shape, value, np.float32)
    box = Letterbox.fit((h, w), (ch, cw))
    fitted = box.apply(source)
    assert fitted.shape == (ch, cw) + shape[2:]
    back = box.crop_back(fitted)
    assert back.shape == shape
    np.testing.assert_array_equal(back, source)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 200), w=st.integers(1, 200), canvas=st.integers(2, 160), seed=st.integers(0, 2**16))
def test_pad_regions_hold_the_fill_or_the_edge_pixels(h, w, canvas, seed):
    source = np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)
    box = Letterbox.fit((h, w), canvas)
    rows, cols = box.valid()
    filled = box.apply(source, fill=0.25)
    padding = np.ones((canvas, canvas), bool)
    padding[rows, cols] = False
    assert (filled[padding] == 0.25).all()
    np.testing.assert_array_equal(filled[rows, cols], resize(source, box.inner))
    edged = box.apply(source)
    np.testing.assert_array_equal(edged[rows, cols], filled[rows, cols])
    np.testing.assert_array_equal(edged[: box.top], np.broadcast_to(edged[box.top], edged[: box.top].shape))
    np.testing.assert_array_equal(edged[rows.stop:], np.broadcast_to(edged[rows.stop - 1], edged[rows.stop:].shape))
    np.testing.assert_array_equal(edged[:, : box.left], np.broadcast_to(edged[:, box.left : box.left + 1], edged[:, : box.left].shape))


@pytest.mark.parametrize(
    "source, canvas, inner",
    [
        ((203, 517), 320, (126, 320)),
        ((517, 203), 320, (320, 126)),
        ((1, 5000), 512, (1, 512)),
        ((5000, 1), (640, 480), (640, 1)),
        ((7, 7), 1024, (1024, 1024)),
        ((480, 640), (480, 640), (480, 640)),
        ((3, 5), (1, 1), (1, 1)),
    ],
)
def test_odd_and_extreme_sizes(source, canvas, inner):
    box = Letterbox.fit(source, canvas)
    assert box.inner == inner
    image = np.linspace(0, 1, source[0] * source[1], dtype=np.float32).reshape(source)
    fitted = box.apply(image)
    back = box.crop_back(fitted)
    assert back.shape == source and back.min() >= 0.0 and back.max() <= 1.0


def test_crop_back_refuses_a_wrong_canvas():
    box = Letterbox.fit((100, 200), 64)
    with pytest.raises(ValueError, match="canvas"):
        box.crop_back(np.zeros((64, 65), np.float32))


@settings(max_examples=60, deadline=None)
@given(h=st.integers(2, 400), w=st.integers(2, 400), th=st.integers(1, 600), tw=st.integers(1, 600),
       seed=st.integers(0, 2**16))
def test_resize_stays_within_the_input_range(h, w, th, tw, seed):
    # both bicubic overshoot and float32 rounding of area sums (1.0000001) must be clipped
    rng = np.random.default_rng(seed)
    alpha = (rng.random((h, w)) > 0.5).astype(np.float32)
    alpha[: h // 2] = 1.0
    out = resize(alpha, (th, tw))
    assert out.shape == (th, tw) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_area_shrink_of_an_opaque_matte_stays_at_most_one():
    # regression: a real 2281×2284 alpha shrunk to 640 px gave 1.0000001 and the metrics refused it
    alpha = np.ones((2281, 2284), np.float32)
    alpha[:, :300] = np.linspace(0, 1, 300, dtype=np.float32)
    assert resize(alpha, scale_to_fit(alpha.shape, 640)).max() <= 1.0


def test_resize_keeps_a_single_channel_axis_and_copies():
    image = np.random.default_rng(0).random((30, 40, 1), dtype=np.float32)
    assert resize(image, (15, 20)).shape == (15, 20, 1)
    same = resize(image, (30, 40))
    assert same is not image and np.array_equal(same, image)


@given(h=sides, w=sides, max_side=st.integers(1, 4096))
def test_scale_to_fit_never_enlarges_and_keeps_aspect(h, w, max_side):
    out_h, out_w = scale_to_fit((h, w), max_side)
    assert 1 <= out_h <= h and 1 <= out_w <= w
    assert max(out_h, out_w) == min(max(h, w), max_side)
    factor = min(1.0, max_side / max(h, w))
    assert abs(out_h - h * factor) <= 0.5 + 1e-9 or out_h == 1
    assert abs(out_w - w * factor) <= 0.5 + 1e-9 or out_w == 1


@given(h=sides, w=sides, max_side=st.integers(1, 4096), min_side=st.integers(1, 64))
def test_scale_to_fit_keeps_a_short_side_of_min_side_for_strips(h, w, max_side, min_side):
    out_h, out_w = scale_to_fit((h, w), max_side, min_side)
    assert 1 <= out_h <= h and 1 <= out_w <= w  # never enlarges
    assert min(out_h, out_w) >= min(min_side, h, w) - 0.5 - 1e-9
    assert max(out_h, out_w) <= max(max_side, max(h, w) * min_side / min(h, w) + 0.5)
    assert scale_to_fit((16, 4000), 256, 16) == (16, 4000)
    assert scale_to_fit((400, 6000), 1024, 16) == (68, 1024)
