"""Fuzz targets over the public boundary, shared by the CI tests and ``benchmarks/reliability.py``.

Each target takes hypothesis-drawn input and either works or raises an :class:`IcmError`
subclass with a message; anything else (a foreign exception, a crash) is a bug.  The targets
return what they computed so the tests can check it too.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from icm_core import imageio
from icm_core.api import IcmError, IcmWarning
from icm_core.validate import check_image, check_mask

FORMATS = (".png", ".jpg", ".tif", ".webp", ".bmp")


def expect_ours(call, *args, **kwargs):
    """Run ``call``; our own errors (with a message) are an accepted answer, returned as such."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IcmWarning)
            warnings.simplefilter("ignore", UserWarning)
            return call(*args, **kwargs)
    except IcmError as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return error


# --- images -----------------------------------------------------------------------------------

def encoded_image(draw_pixels: np.ndarray, suffix: str) -> bytes:
    pixels = draw_pixels if draw_pixels.ndim == 2 or suffix != ".jpg" or draw_pixels.dtype == np.uint8 \
        else (draw_pixels // 257).astype(np.uint8)
    if suffix in (".jpg", ".webp", ".bmp") and pixels.dtype != np.uint8:
        pixels = (pixels // 257).astype(np.uint8)
    ok, data = cv2.imencode(suffix, pixels)
    assert ok
    return data.tobytes()


@st.composite
def real_files(draw):
    """A small real PNG/JPEG/TIFF/WebP/BMP (8 or 16 bit, 1/3/4 channels)."""
    suffix = draw(st.sampled_from(FORMATS))
    dtype = np.uint16 if suffix in (".png", ".tif") and draw(st.booleans()) else np.uint8
    channels = draw(st.sampled_from([0, 3, 4] if suffix in (".png", ".tif", ".webp") else [0, 3]))
    shape = (draw(st.integers(1, 24)), draw(st.integers(1, 24))) + ((channels,) if channels else ())
    seed = draw(st.integers(0, 2**32 - 1))
    pixels = np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    return suffix, encoded_image(pixels, suffix)


def _truncate_or_flip(draw, data: bytes, damage: str, max_flips: int) -> bytes:
    """Cut ``data`` short, or overwrite up to ``max_flips`` of its bytes."""
    if damage == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, max_flips))):
        buffer[draw(st.integers(0, len(buffer) - 1))] = draw(st.integers(0, 255))
    return bytes(buffer)


@st.composite
def damaged_files(draw):
    """A real image file truncated, with bytes overwritten, or with garbage appended."""
    suffix, data = draw(real_files())
    damage = draw(st.sampled_from(["truncate", "flip", "append", "header-only"]))
    if damage in ("truncate", "flip"):
        data = _truncate_or_flip(draw, data, damage, max_flips=8)
    elif damage == "append":
        data += draw(st.binary(min_size=1, max_size=64))
    else:
        data = data[:16] + draw(st.binary(max_size=256))
    return suffix, data


def decode_target(name: str, data: bytes):
    """Bytes → image and mask through the readers; results must follow the conventions."""
    image = expect_ours(imageio.decode_image, data, name)
    if isinstance(image, np.ndarray):
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3
        assert np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0
    return image


def read_file_target(folder: Path, name: str, data: bytes):
    path = folder / name
    path.write_bytes(data)
    image = expect_ours(imageio.read_image, path)
    mask = expect_ours(imageio.read_mask, path)
    if isinstance(mask, np.ndarray):
        assert mask.dtype == np.float32 and mask.ndim == 2
        assert np.isfinite(mask).all() and mask.min() >= 0.0 and mask.max() <= 1.0
    return image, mask


DTYPES = st.sampled_from([np.uint8, np.uint16, np.float16, np.float32, np.float64, np.bool_,
                          np.int8, np.int16, np.int32, np.int64, np.uint32, np.complex64])


@st.composite
def pixel_arrays(draw):
    """Arrays of many dtypes, ranks and channel counts, NaN/Inf and out-of-range values included."""
    dtype = np.dtype(draw(DTYPES))
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.integers(0, 6 if axis == 2 else 12)) for axis in range(ndim))
    if dtype.kind == "f":
        elements = st.floats(width=min(dtype.itemsize * 8, 64), allow_nan=True, allow_infinity=True)
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements))


def to_rgb_target(pixels: np.ndarray):
    rgb = expect_ours(imageio.to_rgb_float, pixels)
    if isinstance(rgb, np.ndarray):
        assert rgb.dtype == np.float32 and rgb.shape == pixels.shape[:2] + (3,)
        assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= 1.0
    return rgb


# --- engine boundary --------------------------------------------------------------------------

MASK_KINDS = ("random", "empty", "full", "one-pixel", "one-pixel-out", "half")


@st.composite
def engine_inputs(draw, max_side: int = 40):
    """A reference, its mask and a target: mostly valid, sometimes with a wrong dtype, NaN/Inf,
    out-of-range values, a mismatched mask or a degenerate mask; sizes include huge aspect ratios
    and targets that are long strips."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def side() -> int:
        return draw(st.sampled_from([1, 15, 16, 17, 23, max_side, 4 * max_side]))

    height, width = side(), side()
    image = rng.random((height, width, 3), dtype=np.float32)
    poison = draw(st.sampled_from(["none", "none", "none", "nan", "inf", "range", "float64", "uint8"]))
    if poison in ("nan", "inf", "range"):
        image[rng.integers(height), rng.integers(width), rng.integers(3)] = \
            {"nan": np.nan, "inf": np.inf, "range": 2.0}[poison]
    elif poison == "float64":
        image = image.astype(np.float64)
    elif poison == "uint8":
        image = (image * 255).astype(np.uint8)
    kind = draw(st.sampled_from(MASK_KINDS))
    mask_shape = (height, width) if draw(st.integers(0, 7)) else (height + 1, width)
    mask = {
        "random": lambda: (rng.random(mask_shape) > 0.5).astype(np.float32),
        "empty": lambda: np.zeros(mask_shape, np.float32),
        "full": lambda: np.ones(mask_shape, np.float32),
        "one-pixel": lambda: np.zeros(mask_shape, np.float32),
        "one-pixel-out": lambda: np.ones(mask_shape, np.float32),
        "half": lambda: np.tile((np.arange(mask_shape[1]) < mask_shape[1] // 2).astype(np.float32),
                                (mask_shape[0], 1)),
    }[kind]()
    if kind in ("one-pixel", "one-pixel-out"):
        mask[0, 0] = 1.0 - mask[0, 0]
    if draw(st.integers(0, 7)):
        target_shape = (side(), side(), 3)
    else:  # a long strip, 1:100 and more: scaled naively it is 1 px high somewhere inside
        short, long = draw(st.sampled_from([1, 16, 17, 23])), 100 * max_side
        target_shape = (short, long, 3) if draw(st.booleans()) else (long, short, 3)
    target = rng.random(target_shape, dtype=np.float32)
    return image, mask, target


def engine_target(engine, image, mask, target):
    """validate → encode_reference → matte: our errors, or an alpha of exactly the target's size."""
    reference = expect_ours(engine.encode_reference, image, mask)
    if isinstance(reference, IcmError):
        # a valid pair must never be refused
        assert _invalid(lambda: (check_image(image), check_mask(mask, image.shape))), reference
        return reference
    result = expect_ours(engine.matte, target, reference, seed=0)
    if isinstance(result, IcmError):
        assert _invalid(lambda: check_image(target)), result
        return result
    alpha = result.alpha
    assert alpha.shape == target.shape[:2] and alpha.dtype == np.float32
    assert np.isfinite(alpha).all() and alpha.min() >= 0.0 and alpha.max() <= 1.0
    return result


def _invalid(check) -> bool:
    try:
        check()
    except IcmError:
        return True
    return False


# --- structured files: dataset manifests, batch manifests, plugin.json, checkpoints -------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)
PATHS = st.sampled_from(["a.png", "b.png", "missing.png", "../outside.png", "/etc/hostname",
                         "sub/../a.png", "", ".", "a.png\0x"])


@st.composite
def dataset_manifests(draw):
    """Mostly well-formed dataset manifests with random holes, types and paths, or any JSON."""
    if draw(st.integers(0, 4)) == 0:
        return draw(JSON)

    def member(index):
        entry = {"id": draw(st.sampled_from([f"m{index}", "", "..", "a/b", 7, None])),
                 "image": draw(PATHS | JSON), "alpha": draw(PATHS)}
        if draw(st.booleans()):
            entry["trimap"] = draw(PATHS | JSON)
        return entry

    members = [member(i) for i in range(draw(st.integers(0, 3)))]
    manifest = {"format": draw(st.sampled_from(["icm-matting-dataset/1", "other", 1])),
                "groups": [{"name": draw(st.sampled_from(["g", "g", "../x", 3])),
                            "reference": draw(st.sampled_from(["m0", "m1", None])),
                            "members": members}] * draw(st.integers(0, 2)),
                "singles": members[: draw(st.integers(0, len(members)))]}
    for key in ("alpha_channel", "alpha_floor", "exif_transpose", "name"):
        if draw(st.booleans()):
            manifest[key] = draw(JSON)
    return manifest


def dataset_manifest_target(folder: Path, text: str):
    from icm_core.datasets import load_manifest

    (folder / "manifest.json").write_text(text, encoding="utf-8", errors="surrogatepass")
    dataset = expect_ours(load_manifest, folder)
    if not isinstance(dataset, IcmError):
        for member in [*dataset.singles, *(m for g in dataset.groups for m in g.members)]:
            assert member.image_path.is_relative_to(folder.resolve())
    return dataset


def batch_manifest_target(folder: Path, text: str):
    from icm_core.batch import Manifest

    path = folder / "icm-batch.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return expect_ours(Manifest.load, path)


@st.composite
def batch_manifests(draw):
    if draw(st.booleans()):
        return draw(JSON)
    return {"format": "icm-matting batch manifest",
            "targets": draw(st.lists(st.dictionaries(st.sampled_from(["key", "status", "x"]), JSON,
                                                     max_size=3), max_size=3) | JSON)}


def plugin_manifest_target(text: str):
    """plugin.json as the host-file generators read it."""
    from icm_plugin import manifest as generated

    def generate():
        try:
            data = json.loads(text)
        except ValueError as error:
            raise _ours(f"plugin.json is not JSON: {error}") from None
        return generated.krita_desktop(data), generated.krita_action(data), generated.gimp_block(data)

    return expect_ours(generate)


def _ours(message):
    from icm_core.api import InvalidInput

    return InvalidInput(message)


def checkpoint_target(folder: Path, suffix: str, data: bytes):
    from icm_core.icm.checkpoint import decoder_state_dict, read_checkpoint

    path = folder / f"model{suffix}"
    path.write_bytes(data)
    raw = expect_ours(read_checkpoint, path)
    if isinstance(raw, IcmError):
        return raw
    return expect_ours(decoder_state_dict, raw)


def real_checkpoint_bytes(suffix: str, seed: int = 0) -> bytes:
    import torch
    from safetensors.torch import save

    generator = torch.Generator().manual_seed(seed)
    state = {"in_context_decoder.detail_decoder.w": torch.randn(3, 4, generator=generator),
             "in_context_decoder.in_context_fusion.b": torch.randn(5, generator=generator)}
    if suffix == ".safetensors":
        return save(state)
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "epoch": 3}, buffer)
    return buffer.getvalue()


@st.composite
def damaged_checkpoints(draw):
    suffix = draw(st.sampled_from([".safetensors", ".ckpt"]))
    data = real_checkpoint_bytes(suffix)
    damage = draw(st.sampled_from(["none", "truncate", "flip", "random"]))
    if damage in ("truncate", "flip"):
        data = _truncate_or_flip(draw, data, damage, max_flips=6)
    elif damage == "random":
        data = draw(st.binary(max_size=512))
    return suffix, data
