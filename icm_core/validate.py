"""Checks of the boundary conventions, with messages that say what to do."""

from __future__ import annotations

import numpy as np

from .api import SEED_MAX, Hints, IcmError, InvalidInput, MatteResult

MIN_SIDE = 16
MAX_PIXELS = 60_000_000
ROUNDING = 1e-3  # resampling leaves values a hair outside [0, 1]; engines clip those


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate an ``H×W×3`` float32 sRGB image in [0, 1]; returns it unchanged."""
    if not isinstance(image, np.ndarray):
        raise InvalidInput(f"The {what} must be a numpy array, got {type(image).__name__}.")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput(
            f"The {what} must be H×W×3 RGB, got shape {image.shape}; convert grey, RGBA or "
            "CMYK pictures with icm_core.imageio.to_rgb_float first."
        )
    if image.dtype != np.float32:
        raise InvalidInput(
            f"The {what} must be float32 in [0, 1], got {image.dtype}; "
            "use icm_core.imageio.to_rgb_float to convert 8/16-bit pixels."
        )
    _check_size(image.shape[:2], what)
    check_values(image, what)
    return image


def check_mask(mask: np.ndarray, image_shape: tuple[int, ...], what: str = "mask") -> np.ndarray:
    """Validate a reference mask for an image of ``image_shape``: same size, some inside, some outside."""
    if not isinstance(mask, np.ndarray):
        raise InvalidInput(f"The {what} must be a numpy array, got {type(mask).__name__}.")
    if mask.ndim != 2:
        raise InvalidInput(f"The {what} must be a single-channel H×W array, got shape {mask.shape}.")
    if mask.dtype != np.float32:
        raise InvalidInput(f"The {what} must be float32 in [0, 1], got {mask.dtype}.")
    if mask.shape != tuple(image_shape[:2]):
        raise InvalidInput(
            f"The {what} is {mask.shape[1]}×{mask.shape[0]} px but its image is "
            f"{image_shape[1]}×{image_shape[0]} px; paint the mask on the reference image itself."
        )
    check_values(mask, what)
    inside = float((mask > 0.5).mean())
    if inside == 0.0:
        raise InvalidInput(f"The {what} is empty: brush over the subject in the reference image.")
    if inside == 1.0:
        raise InvalidInput(
            f"The {what} covers the whole reference image: leave some background unpainted so "
            "the tool can tell subject from background."
        )
    return mask


def check_follow(follow: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Validate where a shot's subject was (:meth:`~icm_core.sequence.ShotMemory.follow`) for
    a target of ``image_shape``; returns it (> 0.5) as a boolean mask."""
    if not isinstance(follow, np.ndarray) or follow.ndim != 2:
        raise InvalidInput(f"follow must be an H×W mask of where the shot's subject was, got "
                           f"{getattr(follow, 'shape', type(follow).__name__)}.")
    if follow.shape != tuple(image_shape[:2]):
        raise InvalidInput(f"Where the shot's subject was is {follow.shape[1]}×{follow.shape[0]} "
                           f"px but its target is {image_shape[1]}×{image_shape[0]} px: the "
                           "frames of a shot must share one size.")
    check_values(follow, "where the shot's subject was")
    return follow > 0.5


def check_hints(hints: Hints, image_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Validate correction hints for a target of ``image_shape``; returns (keep, remove) as
    boolean masks (an absent one is all False)."""
    if not isinstance(hints, Hints):
        raise InvalidInput(f"hints must be icm_core.api.Hints(keep, remove), got {type(hints).__name__}.")
    painted = []
    for name in ("keep", "remove"):
        mask = getattr(hints, name)
        if mask is None:
            painted.append(np.zeros(image_shape[:2], bool))
            continue
        if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.float32:
            raise InvalidInput(f"The {name} hint must be a float32 H×W mask, got "
                               f"{getattr(mask, 'dtype', type(mask).__name__)} {getattr(mask, 'shape', '')}.")
        if mask.shape != tuple(image_shape[:2]):
            raise InvalidInput(
                f"The {name} hint is {mask.shape[1]}×{mask.shape[0]} px but its target is "
                f"{image_shape[1]}×{image_shape[0]} px; paint corrections on the target itself."
            )
        check_values(mask, f"{name} hint")
        painted.append(mask > 0.5)
    keep, remove = painted
    if not keep.any() and not remove.any():
        raise InvalidInput("The hints are empty: paint a keep or remove stroke on the target, "
                           "or matte without hints.")
    if (keep & remove).any():
        raise InvalidInput(
            f"{int((keep & remove).sum())} px are painted both keep and remove; erase one of the "
            "two strokes there."
        )
    return keep, remove


def check_seed(seed: int) -> int:
    """``seed`` if it is a whole number 0…SEED_MAX, else :class:`InvalidInput`."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= SEED_MAX:
        raise InvalidInput(f"The seed must be a whole number 0…{SEED_MAX}, not {seed!r}.")
    return int(seed)


def check_result(result: MatteResult, engine: str, advice: str) -> MatteResult:
    """``result`` if its alpha (and foreground) are finite, else :class:`IcmError`: a NaN alpha
    would be written as an all-transparent matte, with nothing to say that it is wrong."""
    for what, array in (("alpha", result.alpha), ("foreground colours", result.foreground)):
        if array is not None and not np.isfinite(array).all():
            raise IcmError(f"The {engine} engine computed NaN or infinite {what} for this "
                           f"target; nothing was written. {advice}")
    return result


def _check_size(shape: tuple[int, ...], what: str) -> None:
    height, width = shape
    if min(height, width) < MIN_SIDE:
        raise InvalidInput(f"The {what} is {width}×{height} px; each side must be at least {MIN_SIDE} px.")
    if height * width > MAX_PIXELS:
        raise InvalidInput(
            f"The {what} has {height * width / 1e6:.0f} MP; the limit is {MAX_PIXELS / 1e6:.0f} MP. "
            "Scale it down first."
        )


def check_values(array: np.ndarray, what: str) -> None:
    """:class:`InvalidInput` unless every value is finite and in [0, 1] (give or take rounding)."""
    low, high = float(np.min(array)), float(np.max(array))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidInput(f"The {what} contains NaN or infinite values.")
    if low < -ROUNDING or high > 1.0 + ROUNDING:
        raise InvalidInput(
            f"The {what} values must lie in [0, 1], found {low:.3g}…{high:.3g}; "
            "divide 8-bit values by 255 (16-bit by 65535)."
        )
