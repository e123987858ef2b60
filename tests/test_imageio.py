"""Reading any common picture as float32 RGB / H×W mask, and atomic, non-overwriting writers."""

from __future__ import annotations

import os
import warnings

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from icm_core import imageio
from icm_core.api import InvalidInput, OutputError, UnreadableFile

RNG = np.random.default_rng(7)
RGB8 = (RNG.random((30, 50, 3)) * 255).astype(np.uint8)
RGB16 = (RNG.random((30, 50, 3)) * 65535).astype(np.uint16)


def _cv2_write(path, rgb_pixels) -> None:
    """Write with OpenCV (the only common writer for 16-bit and float colour), RGB in."""
    pixels = rgb_pixels[..., [2, 1, 0, 3][: rgb_pixels.shape[2]]] if rgb_pixels.ndim == 3 else rgb_pixels
    ok, encoded = cv2.imencode(os.path.splitext(str(path))[1], np.ascontiguousarray(pixels))
    assert ok
    path.write_bytes(encoded.tobytes())


def _check_image(array):
    assert array.dtype == np.float32 and array.ndim == 3 and array.shape[2] == 3 and array.flags.c_contiguous
    assert array.min() >= 0.0 and array.max() <= 1.0


# --- reading: depths and layouts -------------------------------------------------------------

def test_png_8_and_16_bit(tmp_path):
    Image.fromarray(RGB8).save(tmp_path / "a.png")
    _cv2_write(tmp_path / "b.png", RGB16)
    np.testing.assert_allclose(imageio.read_image(tmp_path / "a.png"), RGB8 / 255, atol=1e-6)
    # 48-bit PNGs keep their depth (Pillow alone would drop the low byte)
    np.testing.assert_allclose(imageio.read_image(tmp_path / "b.png"), RGB16 / 65535, atol=1e-6)
    rgba16 = np.dstack([RGB16, np.full((30, 50), 30000, np.uint16)])
    _cv2_write(tmp_path / "c.png", rgba16)
    np.testing.assert_allclose(imageio.read_mask(tmp_path / "c.png"), 30000 / 65535, atol=1e-6)


def test_grey_and_grey_alpha(tmp_path):
    grey = RGB8[..., 0]
    Image.fromarray(grey).save(tmp_path / "l.png")
    image = imageio.read_image(tmp_path / "l.png")
    _check_image(image)
    for channel in range(3):
        np.testing.assert_allclose(image[..., channel], grey / 255, atol=1e-6)
    np.testing.assert_allclose(imageio.read_mask(tmp_path / "l.png"), grey / 255, atol=1e-6)

    alpha = RGB8[..., 1]
    Image.fromarray(np.dstack([grey, alpha]), mode="LA").save(tmp_path / "la.png")
    np.testing.assert_allclose(imageio.read_image(tmp_path / "la.png")[..., 1], grey / 255, atol=1e-6)
    np.testing.assert_allclose(imageio.read_mask(tmp_path / "la.png"), alpha / 255, atol=1e-6)


def test_rgba_image_drops_alpha_and_mask_takes_it(tmp_path):
    alpha = np.tile(np.arange(50, dtype=np.uint8) * 5, (30, 1))
    Image.fromarray(np.dstack([RGB8, alpha])).save(tmp_path / "rgba.png")
    np.testing.assert_allclose(imageio.read_image(tmp_path / "rgba.png"), RGB8 / 255, atol=1e-6)
    np.testing.assert_allclose(imageio.read_mask(tmp_path / "rgba.png"), alpha / 255, atol=1e-6)
    # an opaque alpha carries no mask: the grey value (or the chosen channel) is used instead
    Image.fromarray(np.dstack([RGB8, np.full((30, 50), 255, np.uint8)])).save(tmp_path / "opaque.png")
    np.testing.assert_allclose(imageio.read_mask(tmp_path / "opaque.png"), RGB8.mean(axis=2) / 255, atol=1e-5)
    np.testing.assert_allclose(imageio.read_mask(tmp_path / "opaque.png", channel=2), RGB8[..., 2] / 255, atol=1e-6)


def test_palette_with_and_without_transparency(tmp_path):
    palette_image = Image.fromarray(RGB8).quantize(colors=16)
    expected = np.asarray(palette_image.convert("RGB")) / 255
    palette_image.save(tmp_path / "p.png")
    np.testing.assert_allclose(imageio.read_image(tmp_path / "p.png"), expected, atol=1e-6)
    np.testing.assert_array_equal(imageio.read_mask(tmp_path / "p.png", channel=0), expected[..., 0].astype(np.float32))

    transparent_index = int(np.asarray(palette_image)[0, 0])
    palette_image.save(tmp_path / "pt.png", transparency=transparent_index)
    np.testing.assert_allclose(imageio.read_image(tmp_path / "pt.png"), expected, atol=1e-6)
    mask = imageio.read_mask(tmp_path / "pt.png")
    np.testing.assert_array_equal(mask == 0.0, np.asarray(palette_image) == transparent_index)
    assert set(np.unique(mask)) == {0.0, 1.0}


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(RGB8).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    with Image.open(tmp_path / "cmyk.jpg") as written:
        assert written.mode == "CMYK"
        expected = np.asarray(written.convert("RGB")) / 255
    image = imageio.read_image(tmp_path / "cmyk.jpg")
    _check_image(image)
    np.testing.assert_allclose(image, expected, atol=1e-6)
    assert np.abs(image - RGB8 / 255).mean() < 0.03  # and it still looks like the original


def test_tiff_16_bit_and_float32(tmp_path):
    _cv2_write(tmp_path / "a.tif", RGB16)
    np.testing.assert_allclose(imageio.read_image(tmp_path / "a.tif"), RGB16 / 65535, atol=1e-6)
    values = (RGB16 / 65535).astype(np.float32)
    _cv2_write(tmp_path / "f.tif", values)
    np.testing.assert_array_equal(imageio.read_image(tmp_path / "f.tif"), values)
    _cv2_write(tmp_path / "m.tif", values[..., 0])
    np.testing.assert_array_equal(imageio.read_mask(tmp_path / "m.tif"), values[..., 0])


def test_float_values_outside_the_unit_range_are_clipped_with_a_warning(tmp_path):
    values = np.full((20, 20, 3), 1.5, np.float32)
    _cv2_write(tmp_path / "hdr.tif", values)
    with pytest.warns(UserWarning, match="clipped"):
        assert imageio.read_image(tmp_path / "hdr.tif").max() == 1.0
    with pytest.warns(UserWarning, match="clipped"):  # a caller's array is never changed
        assert imageio.to_rgb_float(values).max() == 1.0
    assert (values == 1.5).all()


def test_webp_lossless(tmp_path):
    Image.fromarray(RGB8).save(tmp_path / "a.webp", lossless=True)
    np.testing.assert_allclose(imageio.read_image(tmp_path / "a.webp"), RGB8 / 255, atol=1e-6)


def test_png_with_a_jpg_name_is_read_by_content(tmp_path):
    Image.fromarray(RGB8).save(tmp_path / "photo.jpg", format="PNG")
    np.testing.assert_allclose(imageio.read_image(tmp_path / "photo.jpg"), RGB8 / 255, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 40), w=st.integers(1, 40), channels=st.sampled_from([None, 3, 4]),
    dtype=st.sampled_from([np.uint8, np.uint16]), seed=st.integers(0, 2**16),
)
def test_any_png_decodes_to_its_exact_values(tmp_path_factory, h, w, channels, dtype, seed):
    top = np.iinfo(dtype).max
    shape = (h, w) if channels is None else (h, w, channels)
    pixels = np.random.default_rng(seed).integers(0, top + 1, shape, dtype=dtype)
    path = tmp_path_factory.mktemp("png") / "x.png"
    _cv2_write(path, pixels)
    image = imageio.read_image(path)
    _check_image(image)
    rgb = pixels if channels else np.repeat(pixels[..., None], 3, axis=2)
    np.testing.assert_allclose(image, rgb[..., :3] / top, atol=1e-6)


# --- EXIF orientation ------------------------------------------------------------------------

# What each EXIF orientation asks the viewer to do to the stored pixels, written with numpy.
ORIENTED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirror left-right
    3: lambda a: a[::-1, ::-1],  # rotate 180°
    4: lambda a: a[::-1],  # mirror top-bottom
    5: lambda a: np.swapaxes(a, 0, 1),  # transpose
    6: lambda a: np.rot90(a, -1),  # rotate 90° clockwise
    7: lambda a: np.rot90(a, -1)[::-1],  # transverse
    8: lambda a: np.rot90(a, 1),  # rotate 90° counter-clockwise
}


def _blocks() -> np.ndarray:
    """48×80 image of 3×5 flat 16 px blocks, all different colours: every layout is distinguishable."""
    colours = (np.random.default_rng(3).permutation(15)[:, None] * np.array([17, 5, 11]) % 256).astype(np.uint8)
    return np.kron(colours.reshape(3, 5, 3), np.ones((16, 16, 1), np.uint8))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = _blocks()
    exif = Image.Exif()
    exif[0x0112] = orientation
    expected = ORIENTED[orientation](stored) / 255
    Image.fromarray(stored).save(tmp_path / "o.jpg", exif=exif, quality=98)
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as check:  # the numpy table agrees with Pillow's reading
        np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(check)), ORIENTED[orientation](stored))
    jpeg = imageio.read_image(tmp_path / "o.jpg")
    assert jpeg.shape == expected.shape
    assert np.abs(jpeg - expected).mean() < 0.02  # lossy, but no block is misplaced
    np.testing.assert_allclose(imageio.read_image(tmp_path / "o.png"), expected, atol=1e-6)
    np.testing.assert_allclose(imageio.read_image(tmp_path / "o.png", exif_transpose=False), stored / 255, atol=1e-6)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_of_deep_files(tmp_path, orientation):
    # 16-bit files go through OpenCV, whose TIFF decoder orients by itself and PNG decoder does not
    stored = _blocks()[..., 0].astype(np.uint16) * 257
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif)
    Image.fromarray(stored).save(tmp_path / "o.tif", tiffinfo={0x0112: orientation})
    for name in ("o.png", "o.tif"):
        np.testing.assert_allclose(imageio.read_mask(tmp_path / name), ORIENTED[orientation](stored) / 65535, atol=1e-6)
        np.testing.assert_allclose(imageio.read_mask(tmp_path / name, exif_transpose=False), stored / 65535, atol=1e-6)


# --- unreadable files ------------------------------------------------------------------------

def _png_bytes() -> bytes:
    ok, encoded = cv2.imencode(".png", RGB8)
    return encoded.tobytes()


def _jpeg_bytes() -> bytes:
    ok, encoded = cv2.imencode(".jpg", RGB8)
    return encoded.tobytes()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(_png_bytes()[:300]), "corrupt or truncated"),
        (lambda p: p.write_bytes(_jpeg_bytes()[: len(_jpeg_bytes()) // 2]), "corrupt or truncated"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4), "corrupt or truncated|not an image"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(2000)), "not an image format"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
    ids=["truncated-png", "truncated-jpeg", "corrupt-png", "random-bytes", "empty", "missing", "directory"],
)
def test_unreadable_files_name_the_path(tmp_path, make, message):
    path = tmp_path / "picture.png"
    make(path)
    for reader in (imageio.read_image, imageio.read_mask):
        with pytest.raises(UnreadableFile, match=message) as raised:
            reader(path)
        assert str(path) in str(raised.value)


def test_to_rgb_float_refuses_what_is_not_a_picture():
    for bad in (np.zeros((0, 4)), np.zeros(5), "pixels", np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), np.int64)):
        with pytest.raises(InvalidInput):
            imageio.to_rgb_float(bad)
    with pytest.raises(InvalidInput, match="NaN"):
        imageio.to_rgb_float(np.full((4, 4, 3), np.nan, np.float32))
    with warnings.catch_warnings():  # refused with our message, not a numpy overflow warning
        warnings.simplefilter("error")
        with pytest.raises(InvalidInput, match="infinite"):
            imageio.to_rgb_float(np.full((4, 4, 3), 1e300))


# --- writing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bits, top", [(8, 255), (16, 65535)])
def test_write_alpha_round_trip(tmp_path, bits, top):
    alpha = np.random.default_rng(bits).random((37, 53), dtype=np.float32)
    path = imageio.write_alpha(tmp_path / "alpha.png", alpha, bits=bits)
    with Image.open(path) as written:
        assert written.size == (53, 37) and written.mode == ("L" if bits == 8 else "I;16")
    back = imageio.read_mask(path)
    assert back.shape == alpha.shape
    assert np.abs(back - alpha).max() <= 0.5 / top + 1e-7


def test_write_alpha_as_tiff_and_cutout(tmp_path):
    alpha = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    np.testing.assert_allclose(imageio.read_mask(imageio.write_alpha(tmp_path / "a.tif", alpha, 16)), alpha, atol=1e-5)
    colour = np.random.default_rng(1).random((20, 30, 3), dtype=np.float32)
    path = imageio.write_cutout(tmp_path / "cut.png", colour, alpha)
    with Image.open(path) as cutout:
        rgba = np.asarray(cutout)
    assert cutout.mode == "RGBA"
    np.testing.assert_allclose(rgba[..., 3] / 255, alpha, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(rgba[..., :3] / 255, colour, atol=0.5 / 255 + 1e-6)


def test_writers_refuse_bad_arrays(tmp_path):
    with pytest.raises(InvalidInput, match="H×W"):
        imageio.write_alpha(tmp_path / "a.png", np.zeros((4, 4, 1), np.float32))
    with pytest.raises(InvalidInput, match="8 or 16 bit"):
        imageio.write_alpha(tmp_path / "a.png", np.zeros((4, 4), np.float32), bits=12)
    with pytest.raises(InvalidInput, match="sizes differ"):
        imageio.write_cutout(tmp_path / "c.png", np.zeros((4, 5, 3), np.float32), np.zeros((4, 4), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_existing_files_are_never_overwritten_unless_asked(tmp_path):
    path = tmp_path / "alpha.png"
    path.write_bytes(b"the artist's file")
    with pytest.raises(OutputError, match="already exists") as raised:
        imageio.write_alpha(path, np.ones((8, 8), np.float32))
    assert str(path) in str(raised.value)
    assert path.read_bytes() == b"the artist's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.png"]
    imageio.write_alpha(path, np.ones((8, 8), np.float32), overwrite=True)
    assert imageio.read_mask(path).min() == 1.0


def test_failed_rename_leaves_no_partial_file(tmp_path, monkeypatch):
    def fail(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        imageio.write_alpha(tmp_path / "alpha.png", np.ones((8, 8), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "alpha.png"
    imageio.write_alpha(path, np.zeros((8, 8), np.float32))
    before = path.read_bytes()
    monkeypatch.setattr(os, "replace", lambda s, t: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(OutputError):
        imageio.write_alpha(path, np.ones((8, 8), np.float32), overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["alpha.png"]


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        imageio.write_alpha(tmp_path / "alpha.png", np.ones((8, 8), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_parent_that_is_a_file_gives_an_output_error(tmp_path):
    (tmp_path / "not_a_folder").write_bytes(b"x")
    with pytest.raises(OutputError, match="Cannot write into"):
        imageio.write_alpha(tmp_path / "not_a_folder" / "alpha.png", np.ones((8, 8), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


def test_missing_folders_are_created(tmp_path):
    path = imageio.write_image(tmp_path / "a" / "b" / "image.png", np.zeros((4, 6, 3), np.float32))
    assert imageio.read_image(path).shape == (4, 6, 3)
