"""Matting quality metrics: SAD, MSE, Grad and Conn (Rhemann et al., CVPR 2009).

These are the common definitions used by the official In-Context Matting evaluation, with one
correction: Conn keeps the largest *foreground* component at each threshold (the official code
can pick the background).  Alphas are in [0, 1]; ``region`` (boolean H×W, e.g. a trimap's
unknown pixels) limits where errors are summed, gradients and components are always computed on
the whole image.  Arithmetic is float64 so that 8-bit inputs reproduce the reference values.
"""

from __future__ import annotations

from functools import cache
from typing import Sequence

import numpy as np
from scipy import ndimage

from .api import InvalidInput

GRAD_SIGMA = 1.4
CONN_STEP = 0.1
METRIC_NAMES = ("mse", "sad", "grad", "conn")


def unknown_region(trimap: np.ndarray) -> np.ndarray:
    """The trimap's unknown pixels: neither definite background (0) nor foreground (1)."""
    trimap = _as_float(trimap, "trimap")
    return (trimap > 0.0) & (trimap < 1.0)


def sad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Sum of absolute differences over the region, / 1000."""
    return _sad(*_prepare(pred, gt, region))


def mse(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean squared difference over the region (unscaled)."""
    return _mse(*_prepare(pred, gt, region))


def grad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Σ (|∇p| − |∇g|)² over the region / 1000, with σ = 1.4 Gaussian-derivative filters."""
    return _grad(*_prepare(pred, gt, region))


def conn(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Connectivity error: Σ |φ(p) − φ(g)| over the region / 1000.

    For each threshold θ (step 0.1), the largest 4-connected foreground component of
    (p ≥ θ) & (g ≥ θ) is "connected"; a pixel's level l is the last threshold at which it was
    still connected, and φ(x) = 1 − (x − l) where x − l ≥ 0.15, else 1.
    """
    return _conn(*_prepare(pred, gt, region))


def compute_all(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> dict[str, float]:
    """All four metrics as ``{"mse", "sad", "grad", "conn"}``."""
    prepared = _prepare(pred, gt, region)
    return {"mse": _mse(*prepared), "sad": _sad(*prepared), "grad": _grad(*prepared), "conn": _conn(*prepared)}


def dtssd(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> float:
    """Temporal stability of a shot's mattes (Erofeev et al. 2015, as RobustVideoMatting
    evaluates it): for each pair of successive frames, the root mean square of the difference
    between the predicted and the true temporal derivatives of alpha, averaged over the pairs
    (unscaled: RobustVideoMatting reports it × 100).  Flicker where the truth holds still, or a
    matte that does not follow the subject's motion, raises it; 0 for a perfect sequence."""
    if len(preds) != len(gts):
        raise InvalidInput(f"{len(preds)} predicted and {len(gts)} true alphas: give one per frame.")
    if len(preds) < 2:
        raise InvalidInput("dtSSD needs at least two frames.")
    frames = [_prepare(pred, gt, None)[:2] for pred, gt in zip(preds, gts)]
    if any(pred.shape != frames[0][0].shape for pred, _ in frames):
        raise InvalidInput("The frames of a sequence must all have one size.")
    return float(np.mean([np.sqrt(np.mean(((pred - before) - (gt - earlier)) ** 2))
                          for (before, earlier), (pred, gt) in zip(frames, frames[1:])]))


def _sad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray) -> float:
    return float(np.abs(pred - gt)[region].sum() / 1000.0)


def _mse(pred: np.ndarray, gt: np.ndarray, region: np.ndarray) -> float:
    return float(np.square(pred - gt)[region].mean())


def _grad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray) -> float:
    error = np.square(_gradient_magnitude(pred) - _gradient_magnitude(gt))
    return float(error[region].sum() / 1000.0)


def _conn(pred: np.ndarray, gt: np.ndarray, region: np.ndarray) -> float:
    # the same float thresholds as the reference code (0.1 * i, not rounded), for exact parity
    thresholds = np.arange(0.0, 1.0 + CONN_STEP, CONN_STEP)
    level = np.full(pred.shape, -1.0)
    for previous, threshold in zip(thresholds[:-1], thresholds[1:]):
        connected = _largest_component((pred >= threshold) & (gt >= threshold))
        level[(level == -1.0) & ~connected] = previous
    level[level == -1.0] = 1.0
    return float(np.abs(_phi(pred - level) - _phi(gt - level))[region].sum() / 1000.0)


def _phi(distance: np.ndarray) -> np.ndarray:
    return 1.0 - distance * (distance >= 0.15)


def _largest_component(binary: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of ``binary`` (all False when it is empty)."""
    labels, count = ndimage.label(binary)  # default structure: 4-connectivity
    if count == 0:
        return np.zeros_like(binary)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # label 0 is the background, never a component
    return labels == int(np.argmax(sizes))


@cache
def _derivative_kernels(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """1-D Gaussian and Gaussian-derivative taps whose outer product has unit L2 norm.

    Half size from the reference code: the Gaussian falls below 1 % of its peak density
    (σ = 1.4 → 4 taps each side).
    """
    epsilon = 1e-2
    half = int(np.ceil(sigma * np.sqrt(-2.0 * np.log(np.sqrt(2.0 * np.pi) * sigma * epsilon))))
    x = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(x**2) / (2.0 * sigma**2)) / (sigma * np.sqrt(2.0 * np.pi))
    derivative = -x * gauss / sigma**2
    # ‖outer(g, d)‖₂ = ‖g‖₂·‖d‖₂, so normalising each factor normalises the 2-D kernel
    return gauss / np.linalg.norm(gauss), derivative / np.linalg.norm(derivative)


def _gradient_magnitude(alpha: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    gauss, derivative = _derivative_kernels(sigma)
    # separable 2-D convolution; the sign of the derivative taps does not matter for |∇|
    along_x = ndimage.convolve1d(ndimage.convolve1d(alpha, gauss, axis=0, mode="nearest"), derivative, axis=1, mode="nearest")
    along_y = ndimage.convolve1d(ndimage.convolve1d(alpha, derivative, axis=0, mode="nearest"), gauss, axis=1, mode="nearest")
    return np.hypot(along_x, along_y)


def _as_float(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise InvalidInput(f"The {what} must be a single-channel H×W array, got shape {array.shape}.")
    if array.dtype == np.uint8:
        return array / 255.0
    if array.dtype == np.uint16:
        return array / 65535.0
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float64)
    raise InvalidInput(f"The {what} has pixel type {array.dtype}; use float in [0, 1] or 8/16-bit.")


def _prepare(
    pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred, gt = _as_float(pred, "prediction"), _as_float(gt, "ground truth")
    if pred.shape != gt.shape:
        raise InvalidInput(f"Prediction {pred.shape} and ground truth {gt.shape} sizes differ.")
    for array, what in ((pred, "prediction"), (gt, "ground truth")):
        if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
            raise InvalidInput(f"The {what} values must be finite and lie in [0, 1].")
    if region is None:
        region = np.ones(pred.shape, dtype=bool)
    else:
        region = np.asarray(region, dtype=bool)
        if region.shape != pred.shape:
            raise InvalidInput(f"The region {region.shape} and the alphas {pred.shape} sizes differ.")
        if not region.any():
            raise InvalidInput("The region is empty: there are no pixels to score.")
    return pred, gt, region
