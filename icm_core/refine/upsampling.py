"""Upsampling: the fast guided filter (He et al.) carries an alpha from a working resolution up
to the full picture, so no full-resolution linear system is needed."""

from __future__ import annotations

import cv2
import numpy as np

from .closed_form import UPPER_TRIANGLE, inverse_symmetric
from .masks import bounding_box


def guided_upsample(image: np.ndarray, low_image: np.ndarray, low_alpha: np.ndarray,
                    radius: int = 4, eps: float = 1e-4) -> np.ndarray:
    """Fast guided filter: fit ``alpha ≈ a·I + b`` locally at low resolution, then apply the
    upsampled coefficients to the full-resolution picture ``image``."""
    height, width = image.shape[:2]
    if low_alpha.shape == (height, width):
        return low_alpha.astype(np.float32)
    coeffs = guided_coefficients(low_image.astype(np.float32), low_alpha.astype(np.float32),
                                 radius, eps)
    alpha = cv2.resize(coeffs[..., 3], (width, height), interpolation=cv2.INTER_LINEAR)
    for channel in range(3):
        alpha += (cv2.resize(coeffs[..., channel], (width, height), interpolation=cv2.INTER_LINEAR)
                  * image[..., channel])
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def guided_coefficients(guide: np.ndarray, target: np.ndarray, radius: int,
                        eps: float) -> np.ndarray:
    """Per-pixel (a_r, a_g, a_b, b) of the colour guided filter (He et al.), box-averaged.

    ``a`` is zero wherever ``target`` is constant over the window (most of a matte), so the
    3×3 systems are solved (by their adjugate) only where it varies."""
    side = (2 * radius + 1, 2 * radius + 1)

    def mean(x):
        return cv2.boxFilter(x, -1, side, borderType=cv2.BORDER_REFLECT)

    mean_p = mean(target)
    coefficients = np.zeros(target.shape + (4,), np.float32)
    kernel = np.ones(side, np.uint8)
    varies = cv2.dilate(target, kernel) > cv2.erode(target, kernel)
    b = mean_p
    if varies.any():
        # the colour statistics are needed only where ``a`` is not zero and one window around:
        # on the bounding box of ``varies`` grown by two windows' reach
        box = bounding_box(varies, 2 * radius)
        guide, target, varies = guide[box], target[box], varies[box]
        mean_i = mean(guide)

        def at(x):
            return x[varies].astype(np.float64)

        centre = at(mean_i)
        cov = at(mean(guide * target[..., None])) - centre * at(mean_p[box])[:, None]
        products = at(mean(np.stack([guide[..., j] * guide[..., k] for j, k in UPPER_TRIANGLE],
                                    -1)))
        s00, s01, s02, s11, s12, s22 = (
            products[:, n] - centre[:, j] * centre[:, k] + eps * (j == k)
            for n, (j, k) in enumerate(UPPER_TRIANGLE))
        a = np.zeros_like(guide)
        a[varies] = np.einsum("nij,nj->ni", inverse_symmetric(s00, s01, s02, s11, s12, s22), cov)
        b = mean_p.copy()
        b[box] -= (a * mean_i).sum(-1)
        coefficients[box + (slice(0, 3),)] = mean(a)
    coefficients[..., 3] = mean(b)
    return coefficients

