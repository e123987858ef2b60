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


# --- newer surfaces: engine options, hints, --also, mask memory, training, caches, odd files ---

NUMBER_TEXT = st.sampled_from(["0", "1", "-1", "2", "64", "1000000", str(2**31), str(2**63),
                               "1e400", "nan", "inf", "-inf", "1.5", "0x10", "", " 3", "true",
                               "auto", "[]", "{}", "[" * 200, '{"a": 1}'])


@st.composite
def option_texts(draw):
    """(engine, option name, the command line's text): declared names mostly, any text."""
    from icm_core.engines import engine_class

    engine = draw(st.sampled_from(["lite", "icm"]))
    names = [option.name for option in engine_class(engine).OPTIONS]
    name = draw(st.sampled_from(names) | st.text(max_size=8))
    text = draw(NUMBER_TEXT | st.integers().map(str) | st.text(max_size=20)
                | JSON.map(json.dumps) | st.integers(1, 3000).map(lambda n: "[" * n + "]" * n))
    return engine, name, text


def option_target(engine: str, name: str, text: str):
    """An option read from text: refused with our error, or a value the constructor takes."""
    from icm_core.engines import option
    from icm_core.lite.engine import LiteEngine

    declared = expect_ours(option, engine, name)
    if isinstance(declared, IcmError):
        return declared
    value = expect_ours(declared.parse, engine, text)
    if not isinstance(value, IcmError) and engine == "lite":  # cheap: nothing loads yet
        assert isinstance(expect_ours(LiteEngine, **{name: value}), LiteEngine)
    return value


def seed_target(seed):
    from icm_core.validate import SEED_MAX, check_seed

    checked = expect_ours(check_seed, seed)
    if not isinstance(checked, IcmError):
        assert 0 <= checked <= SEED_MAX
    return checked


def _poisoned(rng, shape, kind: str) -> np.ndarray:
    """A float32 mask of ``shape``: painted blobs, or with NaN, Inf, out-of-range values."""
    mask = (rng.random(shape) > 0.8).astype(np.float32)
    if kind in ("nan", "inf", "range", "negative") and mask.size:
        mask.flat[rng.integers(mask.size)] = {"nan": np.nan, "inf": np.inf, "range": 3.0,
                                               "negative": -0.5}[kind]
    return mask.astype(np.float64) if kind == "float64" else mask


@st.composite
def hint_inputs(draw, side: int = 32):
    """Keep and remove strokes for a ``side``² target: mostly valid, sometimes absent, empty,
    overlapping, of another size or dtype, with NaN/Inf/out-of-range values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    strokes = []
    for _ in range(2):
        kind = draw(st.sampled_from(["ok", "ok", "ok", "none", "empty", "nan", "inf", "range",
                                     "negative", "float64", "size", "list"]))
        shape = (side + 1, side) if kind == "size" else (side, side)
        if kind == "none":
            strokes.append(None)
        elif kind == "empty":
            strokes.append(np.zeros(shape, np.float32))
        elif kind == "list":
            strokes.append([[1.0] * side] * side)
        else:
            strokes.append(_poisoned(rng, shape, kind))
    return strokes[0], strokes[1], draw(st.booleans())


def hints_target(engine, reference, target, keep, remove, preview: bool):
    """A matte with correction strokes: our error, or an alpha pinned where it was painted."""
    from icm_core.api import Hints

    result = expect_ours(engine.matte, target, reference, hints=Hints(keep, remove),
                         preview=preview)
    if isinstance(result, IcmError):
        return result
    alpha = result.alpha
    assert alpha.shape == target.shape[:2] and np.isfinite(alpha).all()
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    for stroke, pinned in ((keep, 1.0), (remove, 0.0)):
        if stroke is not None:
            assert (alpha[np.asarray(stroke) > 0.5] == pinned).all()
    return result


@st.composite
def extra_references(draw, side: int = 32):
    """(image, mask) pairs for ``--also``: valid ones, and pairs with a bad image or mask."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pairs = []
    for _ in range(draw(st.integers(0, 4))):
        height, width = side, draw(st.sampled_from([side, side + 8, 12]))
        image = rng.random((height, width, 3), dtype=np.float32)
        kind = draw(st.sampled_from(["ok", "ok", "ok", "nan", "range", "empty", "size", "float64"]))
        mask = _poisoned(rng, (height + (kind == "size"), width), kind)
        if kind == "empty":
            mask[:] = 0
        else:
            mask[: height // 2, : width // 2] = 1.0  # never empty, never full
            mask[-1, -1] = 0.0
        pairs.append((image, mask))
    return pairs


def also_target(engine, pairs, target):
    """Several references combined (as --also does), then a matte."""
    from icm_core.engines.base import encode_references

    if not pairs:
        return None
    reference = expect_ours(encode_references, engine, pairs)
    if isinstance(reference, IcmError):
        return reference
    assert reference.count == len(pairs)
    alpha = expect_ours(engine.matte, target, reference).alpha
    assert alpha.shape == target.shape[:2] and np.isfinite(alpha).all()
    return alpha


def _replace_at(data, path: tuple, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def real_batch_manifest() -> dict:
    """A manifest as a finished two-target job writes it."""
    def entry(name, status):
        return {"key": f"/in/{name}.png", "input": f"/in/{name}.png", "frame": None,
                "input_sha256": "ab" * 32, "outputs": {"alpha": f"{name}_alpha.png"},
                "status": status, "seconds": 0.5, "attempts": 1, "error": None,
                "timings": {"similarity": 0.1}}

    return {"format": "icm-matting batch manifest", "version": 1, "created": "2026-01-01",
            "inputs": ["/in"], "settings": {"engine": "lite", "engine_options": {}, "seed": 0,
                                            "cutout": False, "bits": 8},
            "weights": {"efficientnet-lite2": "cd" * 32},
            "reference": {"path": "/r.png", "sha256": "ef" * 32},
            "mask": {"path": "/m.png", "sha256": "01" * 32}, "also": [],
            "execution": {"mode": "single"}, "counts": {"done": 1, "failed": 1, "pending": 0},
            "targets": [entry("a", "done"), entry("b", "failed")]}


MANIFEST_PATHS = [("settings",), ("settings", "seed"), ("weights",), ("reference",),
                  ("reference", "sha256"), ("mask",), ("also",), ("targets",), ("targets", 0),
                  ("targets", 0, "key"), ("targets", 0, "status"), ("targets", 0, "outputs"),
                  ("targets", 0, "outputs", "alpha"), ("targets", 1, "attempts"),
                  ("targets", 1, "input_sha256"), ("targets", 1, "frame"),
                  ("targets", 1, "seconds"), ("targets", 0, "timings"), ("format",)]


@st.composite
def edited_batch_manifests(draw):
    """A real manifest with one to three fields replaced by any JSON value (hand edits)."""
    manifest = real_batch_manifest()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(MANIFEST_PATHS))
        try:
            _replace_at(manifest, path, draw(JSON))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier edit removed the parent
    return manifest


def batch_resume_target(folder: Path, manifest: dict):
    """Load a hand-edited manifest, then compare it with a job as --resume does."""
    from icm_core.batch import Target
    from icm_core.batch.manifest import differences, is_done

    loaded = batch_manifest_target(folder, json.dumps(manifest))
    if isinstance(loaded, IcmError):
        return loaded
    identity = {key: real_batch_manifest()[key]
                for key in ("settings", "weights", "reference", "mask", "also")}
    assert all(isinstance(d, str) for d in differences(loaded.header, identity))
    for key, entry in loaded.entries.items():
        target = Target(Path(key), None, {"alpha": folder / "never_alpha.png"})
        assert is_done(entry, "ab" * 32, target) in (True, False)
    return loaded


@st.composite
def mask_memory_operations(draw):
    """Keep, recall, forget and damage operations on a few pictures."""
    ops = []
    for _ in range(draw(st.integers(1, 6))):
        ops.append((draw(st.sampled_from(["keep", "keep", "recall", "forget", "damage"])),
                    draw(st.integers(0, 3)),  # which picture
                    draw(st.sampled_from(["same", "other"])),  # recall's size
                    draw(st.sampled_from(["ok", "ok", "nan", "range", "negative"])),
                    draw(st.binary(max_size=64))))
    return ops


def mask_memory_target(folder: Path, operations):
    """Every operation works or is ignored (memory is best effort); recall gives None or a
    float32 mask of the size asked for, in [0, 1]; nothing is written outside the folder."""
    from ui.mask_memory import MaskMemory, picture_key

    memory = MaskMemory(folder / "masks", keep=3)
    shape = (20, 24)
    for action, picture, size, values, junk in operations:
        key = picture_key(np.full(shape + (3,), picture / 4, np.float32))
        if action == "keep":
            mask = _poisoned(np.random.default_rng(picture), shape, values).astype(np.float32)
            mask[0, 0] = 1.0
            memory._write(key, mask)  # on this thread: an exception is seen
        elif action == "forget":
            memory._write(key, np.zeros(shape, np.float32))
        elif action == "damage" and (folder / "masks" / f"{key}.png").exists():
            (folder / "masks" / f"{key}.png").write_bytes(junk)
        else:
            wanted = shape if size == "same" else (shape[0] + 1, shape[1])
            mask = memory.recall(key, wanted)
            assert mask is None or (mask.shape == wanted and mask.dtype == np.float32
                                    and np.isfinite(mask).all() and 0 <= mask.min() <= mask.max() <= 1)
    memory._writer.shutdown()
    assert {p.name for p in folder.iterdir()} <= {"masks"}
    return memory


TRAIN_VALUES = (JSON | st.floats() | st.integers(-2**70, 2**70)
                | st.dictionaries(st.sampled_from(["exact", "eroded", "unknown_l1", "composition",
                                                   "attention_out", "fusion_out", "bogus"]),
                                  st.floats() | st.integers(-5, 5000) | JSON, max_size=4))


@st.composite
def training_settings(draw):
    """A training config's settings: known names mostly, any values (NaN, Inf, huge, nested)."""
    import dataclasses

    from icm_core.train.config import TrainConfig

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    settings = {"out": "run", "train": ["m.json"]}
    for _ in range(draw(st.integers(0, 4))):
        settings[draw(st.sampled_from(names) | st.text(max_size=6))] = draw(TRAIN_VALUES)
    return settings


def training_settings_target(settings: dict):
    """Refused with our error, or a configuration whose every number is finite."""
    import dataclasses
    import math

    from icm_core.train import config

    resolved = expect_ours(config.resolve, settings, {})
    if not isinstance(resolved, IcmError):
        for value in dataclasses.asdict(resolved).values():
            if isinstance(value, float):
                assert math.isfinite(value)
            if isinstance(value, dict):
                assert all(math.isfinite(v) for v in value.values() if isinstance(v, (int, float)))
    return resolved


def training_file_target(folder: Path, suffix: str, data: bytes):
    from icm_core.train import config

    path = folder / f"train{suffix}"
    path.write_bytes(data)
    return expect_ours(config.read_file, path)


@st.composite
def training_files(draw):
    suffix = draw(st.sampled_from([".toml", ".json"]))
    if draw(st.booleans()):
        return suffix, draw(st.binary(max_size=200))
    settings = draw(training_settings())
    if suffix == ".json":
        return suffix, json.dumps(settings, default=str).encode("utf-8", "surrogatepass")
    values = st.sampled_from(["nan", "inf", "-1", "1e9", "0", '"x"', "[1]", "{a = 1}"])
    lines = [f"{key} = {draw(values)}" for key in settings if key.isidentifier()]
    return suffix, "\n".join(lines).encode()


@st.composite
def decoder_weights(draw):
    """A tiny decoder's weights with some tensors poisoned, reshaped, retyped or removed."""
    edits = draw(st.lists(st.tuples(st.integers(0, 10**6),
                                    st.sampled_from(["nan", "inf", "shape", "int", "drop",
                                                     "extra", "none"])), max_size=3))
    return draw(st.integers(0, 3)), edits


def decoder_weights_target(seed: int, edits):
    """Loading: WeightsCorrupt, or a decoder whose every weight is finite."""
    import torch

    from icm_core.icm.checkpoint import load_decoder_weights
    from icm_core.icm.model import CHECKPOINT_PREFIX, DecoderDims, IcmDecoder
    from tests.icm.tiny import TINY_SIZE, TINY_WIDTHS, tiny_decoder_state

    state = {k[len(CHECKPOINT_PREFIX):]: v for k, v in tiny_decoder_state(seed=seed).items()}
    names = sorted(state)
    for index, edit in edits:
        name = names[index % len(names)]
        if name not in state:
            continue
        tensor = state[name]
        if edit in ("nan", "inf") and tensor.is_floating_point() and tensor.numel():
            tensor.view(-1)[index % tensor.numel()] = float(edit)
        elif edit == "shape":
            state[name] = torch.zeros(tensor.numel() + 1)
        elif edit == "int":
            state[name] = tensor.to(torch.int64)
        elif edit == "drop":
            del state[name]
        elif edit == "extra":
            state[f"{name}.extra"] = torch.zeros(2)
    sides = (TINY_SIZE // 32, TINY_SIZE // 16)
    decoder = IcmDecoder(DecoderDims(feature_channels=(16, 16),
                                     attention_tokens=tuple(s * s for s in sides), **TINY_WIDTHS))
    loaded = expect_ours(load_decoder_weights, decoder, state)
    if not isinstance(loaded, IcmError):
        assert all(torch.isfinite(p).all() for p in decoder.state_dict().values()
                   if p.is_floating_point())
    return loaded


@st.composite
def feature_cache_operations(draw):
    ops = []
    for _ in range(draw(st.integers(1, 5))):
        ops.append((draw(st.sampled_from(["put", "put", "get", "damage", "truncate"])),
                    draw(st.integers(0, 2)), draw(st.sampled_from(["ok", "nan", "empty", "int"])),
                    draw(st.binary(max_size=64))))
    return ops


def feature_cache_target(folder: Path, operations):
    """put/get with odd tensors and damaged entries: get gives None (recomputed) or float32."""
    import torch

    from icm_core.train.cache import FeatureCache

    cache = FeatureCache(folder / "cache", 2000, torch.float16)
    for action, entry, values, junk in operations:
        key = f"{entry:02d}" * 20
        path = cache._path(key)
        if action == "put":
            tensor = {"ok": torch.rand(3, 4), "nan": torch.full((2,), float("nan")),
                      "empty": torch.zeros(0), "int": torch.arange(5)}[values]
            stored = expect_ours(cache.put, key, {"x": tensor})
            assert isinstance(stored, IcmError) or stored["x"].dtype == torch.float32
        elif action in ("damage", "truncate") and path.exists():
            data = path.read_bytes()
            path.write_bytes(junk if action == "damage" else data[: len(data) // 2])
        else:
            got = cache.get(key)
            assert got is None or all(t.dtype == torch.float32 for t in got.values())
    assert not list((folder / "cache").rglob("*.partial"))
    return cache


def _tiff_with_size(data: bytes, width: int, height: int) -> bytes:
    """A little-endian TIFF whose first IFD declares ``width``×``height`` (strips unchanged)."""
    import struct

    buffer = bytearray(data)
    if buffer[:2] != b"II":
        return data
    offset = struct.unpack_from("<I", buffer, 4)[0]
    count = struct.unpack_from("<H", buffer, offset)[0]
    for index in range(count):
        entry = offset + 2 + 12 * index
        tag = struct.unpack_from("<H", buffer, entry)[0]
        if tag in (256, 257):
            struct.pack_into("<HHII", buffer, entry, tag, 4, 1, width if tag == 256 else height)
    return bytes(buffer)


def _png_with_size(data: bytes, width: int, height: int) -> bytes:
    import struct
    import zlib

    buffer = bytearray(data)
    struct.pack_into(">II", buffer, 16, width, height)  # IHDR's first fields
    struct.pack_into(">I", buffer, 29, zlib.crc32(bytes(buffer[12:29])))
    return bytes(buffer)


BOMB_SIZES = [(20000, 20000), (8000, 8000), (12000, 10000), (7746, 7746), (100000, 16),
              (16, 100000), (65535, 65535), (2**31 - 1, 1), (1, 1)]


_REAL_BOMBS: dict[str, bytes] = {}


def real_bomb(kind: str) -> bytes:
    """A real, valid decompression bomb (built once): a deflated 8000×8000 float TIFF of about
    6 KB, or a 10000×10000 grey PNG of about 100 KB (100 MP: under Pillow's own limit)."""
    from PIL import Image

    if kind not in _REAL_BOMBS:
        stream = io.BytesIO()
        if kind == "tiff":
            Image.new("F", (8000, 8000)).save(stream, "TIFF", compression="tiff_deflate")
        else:
            Image.new("L", (10000, 10000)).save(stream, "PNG", optimize=True)
        _REAL_BOMBS[kind] = stream.getvalue()
    return _REAL_BOMBS[kind]


@st.composite
def odd_files(draw):
    """Float (grey, RGB, RGBA, float64, NaN, > 1), grey+alpha, int32, CMYK and palette TIFFs;
    and decompression bombs: tiny TIFF and PNG files whose headers declare up to gigapixels
    (with the strips of a small picture: see :func:`real_bomb` for valid ones)."""
    from PIL import Image

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    height, width = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    kind = draw(st.sampled_from(["float-rgb", "float-grey", "float64", "grey-alpha", "float-rgba", "int32",
                                 "cmyk", "palette", "float-nan", "float-big", "bomb-tiff",
                                 "bomb-png"]))
    if kind.startswith("bomb"):
        bomb_w, bomb_h = draw(st.sampled_from(BOMB_SIZES))
        if kind == "bomb-png":
            small = encoded_image(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8), ".png")
            return ".png", _png_with_size(small, bomb_w, bomb_h)
        ok, small = cv2.imencode(".tif", rng.random((4, 4, 3), dtype=np.float32))
        return ".tif", _tiff_with_size(small.tobytes(), bomb_w, bomb_h)
    if kind in ("float-rgb", "float64", "float-rgba", "float-nan", "float-big"):
        channels = 4 if kind == "float-rgba" else 3
        pixels = rng.random((height, width, channels)).astype(
            np.float64 if kind == "float64" else np.float32)
        if kind == "float-nan":
            pixels[0, 0, 0] = np.nan
        if kind == "float-big":
            pixels *= 300.0
        ok, data = cv2.imencode(".tif", pixels)
        return ".tif", data.tobytes() if ok else b""
    stream = io.BytesIO()
    if kind == "float-grey":
        Image.fromarray(rng.random((height, width)).astype(np.float32), mode="F").save(stream, "TIFF")
    elif kind == "int32":
        Image.fromarray(rng.integers(-2**31, 2**31 - 1, (height, width), dtype=np.int32),
                        mode="I").save(stream, "TIFF")
    elif kind == "grey-alpha":
        Image.fromarray(rng.integers(0, 255, (height, width, 2), dtype=np.uint8),
                        mode="LA").save(stream, "TIFF")
    elif kind == "cmyk":
        Image.fromarray(rng.integers(0, 255, (height, width, 4), dtype=np.uint8),
                        mode="CMYK").save(stream, "TIFF")
    else:
        Image.fromarray(rng.integers(0, 255, (height, width), dtype=np.uint8),
                        mode="P").save(stream, "TIFF")
    return ".tif", stream.getvalue()
