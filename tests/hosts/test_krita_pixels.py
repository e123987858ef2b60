"""Krita byte layouts ↔ float32 sRGB, without Krita (the real thing: test_krita_offscreen.py)."""

from __future__ import annotations

import numpy as np
import pytest

from icm_core.api import InvalidInput
from icm_plugin.krita import pixels

rng = np.random.default_rng(0)
H, W = 5, 7


def rgb():
    return rng.random((H, W, 3), dtype=np.float32)


def test_u8_is_bgra_and_reads_as_rgb():
    image = rgb()
    bgra = np.dstack([np.rint(image[..., ::-1] * 255), np.full((H, W), 255)]).astype(np.uint8)
    decoded = pixels.decode(bgra.tobytes(), W, H, "RGBA", "U8")
    out = pixels.to_srgb(decoded, "RGBA", "U8", "sRGB-elle-V2-srgbtrc.icc")
    assert out.dtype == np.float32 and out.shape == (H, W, 3) and out.flags.c_contiguous
    assert np.abs(out - image).max() <= 0.5 / 255 + 1e-7


def test_u16_is_bgra_and_float_is_rgba():
    image = rgb()
    bgra16 = np.dstack([np.rint(image[..., ::-1] * 65535), np.full((H, W), 65535)]).astype(np.uint16)
    out16 = pixels.to_srgb(pixels.decode(bgra16.tobytes(), W, H, "RGBA", "U16"), "RGBA", "U16", "sRGB built-in")
    assert np.abs(out16 - image).max() < 1e-4
    rgba32 = np.dstack([image, np.ones((H, W), np.float32)])
    out32 = pixels.to_srgb(pixels.decode(rgba32.tobytes(), W, H, "RGBA", "F32"), "RGBA", "F32",
                           "sRGB-elle-V2-srgbtrc.icc")
    assert np.array_equal(out32, image)


def test_linear_profiles_are_encoded_with_the_srgb_curve():
    linear = np.array([[[0.2158605, 0.0, 1.0, 1.0]]], np.float32)  # sRGB 128/255 in red
    out = pixels.to_srgb(linear, "RGBA", "F32", "sRGB-elle-V2-g10.icc")
    assert out[0, 0, 0] == pytest.approx(128 / 255, abs=1e-4) and out[0, 0, 1] == 0
    assert out[0, 0, 2] == pytest.approx(1.0, abs=1e-6)
    values = rgb()
    assert np.abs(pixels.linear_to_srgb(pixels.srgb_to_linear(values)) - values).max() < 1e-5


def test_grey_with_alpha():
    grey = rng.integers(0, 256, (H, W, 2), dtype=np.uint8)
    out = pixels.to_srgb(grey, "GRAYA", "U8", "Gray-D50-elle-V2-srgbtrc.icc")
    assert np.array_equal(out[..., 0], out[..., 2]) and np.allclose(out[..., 1], grey[..., 0] / 255)


@pytest.mark.parametrize("model, depth, profile", [
    ("CMYKA", "U8", "Chemical proof"), ("LABA", "U16", "Lab identity built-in"),
    ("RGBA", "U8", "Rec2020-elle-V4-g10.icc"), ("RGBA", "F32", "ClayRGB-elle-V2-g22.icc"),
    ("RGBA", "U8", "sRGB-elle-V2-g22.icc"),
])
def test_other_spaces_need_krita_to_convert(model, depth, profile):
    assert not pixels.readable(model, depth, profile)
    with pytest.raises(InvalidInput):
        pixels.to_srgb(np.zeros((1, 1, pixels.CHANNELS[model]), pixels.DTYPES[depth]), model, depth, profile)
    assert pixels.readable(*pixels.CONVERSION_TARGET)


def test_wrong_byte_count_and_unknown_depth_are_refused():
    with pytest.raises(InvalidInput, match="expected 140"):
        pixels.decode(b"\0" * 139, W, H, "RGBA", "U8")
    with pytest.raises(InvalidInput, match="not supported"):
        pixels.layout("RGBA", "U32")


@pytest.mark.parametrize("depth", ["U8", "U16", "F16", "F32"])
def test_compose_multiplies_alpha_in_the_nodes_own_depth(depth):
    dtype, scale = pixels.DTYPES[depth], pixels.FULL_SCALE[depth]
    native = (rng.random((H, W, 4)) * scale).astype(dtype)
    matte = rng.random((H, W), dtype=np.float32)
    out = pixels.compose(native, depth, matte)
    assert out.dtype == dtype and out.shape == native.shape and out.flags.c_contiguous
    assert np.array_equal(out[..., :3], native[..., :3])
    expected = native[..., 3].astype(np.float64) * matte
    tolerance = {"U8": 1.0, "U16": 1.0, "F16": 2e-3, "F32": 1e-6}[depth]
    assert np.abs(out[..., 3].astype(np.float64) - expected).max() <= tolerance
    assert not np.shares_memory(out, native)


def test_compose_with_subject_colours_encodes_them_per_depth():
    native = np.zeros((H, W, 4), np.uint8)
    native[..., 3] = 255
    colours = rgb()
    out = pixels.compose(native, "U8", np.ones((H, W), np.float32), colours, "sRGB-elle-V2-srgbtrc.icc")
    assert np.abs(out[..., 2::-1] / 255 - colours).max() <= 0.5 / 255 + 1e-7
    linear = pixels.compose(np.ones((H, W, 4), np.float32), "F32", np.ones((H, W), np.float32), colours,
                            "sRGB-elle-V2-g10.icc")
    assert np.abs(pixels.linear_to_srgb(linear[..., :3]) - colours).max() < 1e-5


def test_compose_refuses_a_matte_of_another_size():
    with pytest.raises(InvalidInput, match="alpha is 3×2 px"):
        pixels.compose(np.zeros((H, W, 4), np.uint8), "U8", np.zeros((2, 3), np.float32))


def test_masks_are_one_byte_per_pixel():
    matte = np.array([[0.0, 0.5, 1.0, 1.2]], np.float32)
    mask = pixels.mask_bytes(matte)
    assert mask.dtype == np.uint8 and mask.tolist() == [[0, 128, 255, 255]]
    back = pixels.mask_from_bytes(mask.tobytes(), 4, 1)
    assert back.dtype == np.float32 and np.allclose(back, [[0, 128 / 255, 1, 1]])


def test_alpha_channel_is_last_for_every_model():
    for model, channels in pixels.CHANNELS.items():
        native = np.zeros((H, W, channels), np.uint16)
        native[..., -1] = 65535
        assert np.all(pixels.alpha(native, "U16") == 1.0), model
