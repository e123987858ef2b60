"""Krita's raw pixel bytes ↔ numpy, without Krita: testable anywhere.

``Node.pixelData`` returns the node's own colour space, row-major from the top-left:
integer depths store colour as B, G, R (then A), float depths as R, G, B (then A); every
Krita colour model keeps alpha as the LAST channel, so alpha is edited without knowing the
model.  Selections and masks are one byte per pixel.  Facts verified on Krita 5.1.5
(../shared/notes/hosts.md §1.3).  Hot paths use OpenCV: a 4096² layer must convert in well
under 0.1 s.
"""

from __future__ import annotations

import cv2
import numpy as np

from icm_core.api import InvalidInput

DTYPES = {"U8": np.uint8, "U16": np.uint16, "F16": np.float16, "F32": np.float32}
CHANNELS = {"RGBA": 4, "GRAYA": 2, "CMYKA": 5, "LABA": 4, "XYZA": 4, "YCbCrA": 4}
FULL_SCALE = {"U8": 255.0, "U16": 65535.0, "F16": 1.0, "F32": 1.0}

#: What :func:`to_srgb` cannot read is converted by Krita into this space first.
CONVERSION_TARGET = ("RGBA", "U16", "sRGB-elle-V2-srgbtrc.icc")


def layout(model: str, depth: str) -> tuple[np.dtype, int]:
    """``(dtype, channels)`` of one pixel of a node in colour model ``model`` at ``depth``."""
    if depth not in DTYPES or model not in CHANNELS:
        raise InvalidInput(
            f"Krita colour space {model}/{depth} is not supported; convert the layer to RGBA "
            "(Image › Convert Layer Color Space) and try again."
        )
    return np.dtype(DTYPES[depth]), CHANNELS[model]


def decode(raw, width: int, height: int, model: str, depth: str) -> np.ndarray:
    """Krita's bytes (``bytes`` or a ``QByteArray``) as a read-only ``H×W×C`` array in the
    node's own dtype; no copy is made."""
    dtype, channels = layout(model, depth)
    data = np.frombuffer(raw, np.uint8)
    expected = width * height * channels * dtype.itemsize
    if data.size != expected:
        raise InvalidInput(
            f"Krita returned {data.size} bytes for a {width}×{height} {model}/{depth} area, "
            f"expected {expected}."
        )
    return data.view(dtype).reshape(height, width, channels)


def transfer(profile: str) -> str | None:
    """``"srgb"`` or ``"linear"`` when ``profile`` has sRGB primaries with that curve, else None
    (other primaries, gamma 2.2, PQ…: those need Krita's colour management)."""
    name = profile.lower()
    if name in ("srgb built-in", "gray built-in") or (
        name.startswith(("srgb-elle", "gray-d50-elle")) and "srgbtrc" in name
    ):
        return "srgb"
    if name in ("scrgb (linear)", "krita-2.5, lcms srgb built-in with linear gamma trc") or (
        name.startswith(("srgb-elle", "gray-d50-elle")) and "-g10" in name
    ):
        return "linear"
    return None


def readable(model: str, depth: str, profile: str) -> bool:
    """True when :func:`to_srgb` can turn this colour space into sRGB without Krita's help."""
    return model in ("RGBA", "GRAYA") and depth in DTYPES and transfer(profile) is not None


def to_srgb(pixels: np.ndarray, model: str, depth: str, profile: str) -> np.ndarray:
    """Decoded RGBA/GRAYA pixels with an sRGB-primaries profile → float32 ``H×W×3`` sRGB."""
    if not readable(model, depth, profile):
        raise InvalidInput(f"{model}/{depth} with profile {profile!r} needs a colour conversion first.")
    if model == "GRAYA":
        colour = cv2.cvtColor(np.ascontiguousarray(pixels[..., 0]), cv2.COLOR_GRAY2RGB)
    elif depth in ("U8", "U16"):
        colour = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    else:
        colour = np.array(pixels[..., :3], dtype=np.float32)
    colour = _normalise(colour, depth)
    if transfer(profile) == "linear":
        colour = linear_to_srgb(colour)
    return colour


def alpha(pixels: np.ndarray, depth: str) -> np.ndarray:
    """The last channel as float32 ``H×W`` in [0, 1]."""
    return _normalise(np.ascontiguousarray(pixels[..., -1]), depth)


def compose(pixels: np.ndarray, depth: str, matte: np.ndarray, colours: np.ndarray | None = None,
            profile: str = "", out: np.ndarray | None = None) -> np.ndarray:
    """Pixels for a new node: ``pixels`` (or ``colours``, float32 sRGB ``H×W×3``, encoded for
    an RGBA node with ``profile``) with the alpha multiplied by ``matte``, in the node's layout.
    Written into ``out`` (which may be ``pixels`` itself) or a new C-contiguous array."""
    height, width, channels = pixels.shape
    if matte.shape != (height, width):
        raise InvalidInput(
            f"The alpha is {matte.shape[1]}×{matte.shape[0]} px but the layer is {width}×{height} px."
        )
    if out is None:
        out = np.array(pixels)
    if colours is not None:
        out[..., :3] = encode_rgb(colours, depth, profile)
    matte = matte.astype(np.float32, copy=False)
    if matte.min() < 0.0 or matte.max() > 1.0:  # engines clip already; a full clip pass costs
        matte = np.clip(matte, 0.0, 1.0)
    if depth == "U8" and channels == 4:  # OpenCV: one saturated, rounded pass per step
        scaled = cv2.convertScaleAbs(matte, alpha=255.0)
        cv2.insertChannel(cv2.multiply(cv2.extractChannel(pixels, 3), scaled, scale=1 / 255), out, 3)
        return out
    new_alpha = pixels[..., -1].astype(np.float32) * matte
    if depth in ("U8", "U16"):
        new_alpha = np.rint(new_alpha)
    out[..., -1] = new_alpha.astype(out.dtype)
    return out


def encode_rgb(colours: np.ndarray, depth: str, profile: str) -> np.ndarray:
    """float32 sRGB ``H×W×3`` → the colour channels of an RGBA node (BGR for integer depths)."""
    curve = transfer(profile)
    if curve is None:
        raise InvalidInput(f"Colours cannot be written into a layer with profile {profile!r}.")
    colours = np.clip(colours, 0.0, 1.0).astype(np.float32, copy=False)
    if curve == "linear":
        colours = srgb_to_linear(colours)
    if depth in ("F16", "F32"):
        return colours.astype(DTYPES[depth])
    scaled = np.rint(colours[..., ::-1] * np.float32(FULL_SCALE[depth]))
    return scaled.astype(DTYPES[depth])


def mask_bytes(matte: np.ndarray) -> np.ndarray:
    """An alpha as Krita selection pixels: ``H×W`` uint8, 255 = selected."""
    return cv2.convertScaleAbs(np.clip(matte, 0.0, 1.0).astype(np.float32, copy=False), alpha=255.0)


def mask_from_bytes(raw, width: int, height: int) -> np.ndarray:
    """Krita selection bytes → float32 ``H×W`` in [0, 1]."""
    data = np.frombuffer(raw, np.uint8)
    if data.size != width * height:
        raise InvalidInput(f"Krita returned {data.size} selection bytes for {width}×{height} px.")
    return data.reshape(height, width).astype(np.float32) * np.float32(1 / 255)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1) on linear values, clipped to [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    encoded = np.clip(encoded, 0.0, 1.0)
    return np.where(encoded <= 0.04045, encoded / 12.92, np.power((encoded + 0.055) / 1.055, 2.4)).astype(np.float32)


def _normalise(values: np.ndarray, depth: str) -> np.ndarray:
    """Native values → float32 in [0, 1] (non-finite floats become 0 or 1)."""
    if depth in ("U8", "U16"):
        out = values.astype(np.float32)
        out *= np.float32(1 / FULL_SCALE[depth])
        return out
    out = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0, out=out)
