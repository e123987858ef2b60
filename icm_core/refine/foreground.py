"""Foreground: un-premultiplied subject colours for cutouts by multilevel foreground estimation
(Germer et al. 2020), vectorised."""

from __future__ import annotations

import cv2
import numpy as np

#: more passes over the pyramid and less smoothness than the method's defaults keep the
#: background's colours from bleeding into soft rims
FOREGROUND_ML = {"big_iterations": 4, "gradient_weight": 0.1}


def estimate_foreground(image: np.ndarray, matting_image: np.ndarray,
                        matting_alpha: np.ndarray) -> np.ndarray:
    """Un-premultiplied subject colour at ``image``'s size: multilevel foreground estimation
    at the matting resolution, plus the full-resolution picture's fine detail."""
    low, _ = multilevel_foreground(matting_image.astype(np.float32),
                                   matting_alpha.astype(np.float32), **FOREGROUND_ML)
    if matting_image.shape == image.shape:
        return np.clip(low, 0.0, 1.0)
    height, width = image.shape[:2]
    # foreground = picture + upsampled (estimate − picture): the picture's fine detail plus the
    # estimate's correction, which is zero wherever alpha is 1; built in place to keep the
    # number of full-resolution buffers small on very large targets
    low -= matting_image
    foreground = cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)
    foreground += image
    return np.clip(foreground, 0.0, 1.0, out=foreground)


def multilevel_foreground(image: np.ndarray, alpha: np.ndarray, regularization: float = 1e-5,
                          gradient_weight: float = 1.0, small_size: int = 32,
                          small_iterations: int = 10, big_iterations: int = 2,
                          margin: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Fast multi-level foreground estimation (Germer et al. 2020, pymatting's defaults),
    vectorised: each sweep updates the two colours of a checkerboard in turn (red-black
    Gauss-Seidel) instead of pixel by pixel, so it needs no compiled loops.  Returns the
    foreground and background colours (float32, H×W×3, in [0, 1]; views of one array).

    On each level only the soft pixels (0 < alpha < 1) and ``margin`` pixels around them are
    iterated: elsewhere alpha is 0 or 1, the visible colour is the pixel's own (what the sweeps
    give there in one step) and the hidden one keeps the coarser level's estimate.  On a
    matte whose soft band covers a tenth of the picture this is about 4× faster."""
    height, width = alpha.shape
    # the mean colours of the sure subject and background start the coarsest level; both
    # colours of a pixel lie side by side (subject's, then background's): one gather each
    means = [cv2.mean(image, mask=sure.astype(np.uint8))[:3] for sure in (alpha > 0.9, alpha < 0.1)]
    colour = np.array(means, np.float32).reshape(1, 1, 6)
    levels = max(1, int(np.ceil(np.log2(max(height, width)))))
    window = np.ones((2 * margin + 1,) * 2, np.uint8)
    for level in range(levels + 1):
        h, w = round(height ** (level / levels)), round(width ** (level / levels))
        picture, a = _nearest(image, h, w).reshape(-1, 3), _nearest(alpha, h, w)
        colour = _nearest(colour, h, w).reshape(-1, 6)
        flat = a.ravel()
        np.copyto(colour[:, :3], picture, where=(flat >= 1.0)[:, None])
        np.copyto(colour[:, 3:], picture, where=(flat <= 0.0)[:, None])
        active = cv2.dilate(((a > 0.0) & (a < 1.0)).astype(np.uint8), window)
        ys, xs = np.nonzero(active)
        # red-black order: the pixels with even y + x, then the others; each sweep over one
        # colour reads only the other's (or fixed) pixels, so it is one vectorised step
        colours = []
        for parity in (0, 1):
            y, x = ys[(ys + xs) % 2 == parity], xs[(ys + xs) % 2 == parity]
            index = y * w + x
            # the four neighbours, the edge repeated beyond the border (as the method does)
            around = [np.maximum(y - 1, 0) * w + x, np.minimum(y + 1, h - 1) * w + x,
                      y * w + np.maximum(x - 1, 0), y * w + np.minimum(x + 1, w - 1)]
            own = flat.take(index)[:, None]  # (take: far faster than fancy indexing)
            weights = [regularization + gradient_weight * np.abs(own - flat.take(near)[:, None])
                       for near in around]
            total = sum(weights)
            a00, a11, a01 = own * own + total, (1.0 - own) ** 2 + total, own * (1.0 - own)
            determinant = a00 * a11 - a01 * a01
            seen = picture.take(index, 0)
            # the 2×2 system per pixel, inverted once per level
            colours.append((index, around, weights,
                            np.concatenate([own * seen, (1.0 - own) * seen], 1),
                            a11 / determinant, -a01 / determinant, a00 / determinant))
        for _ in range(small_iterations if max(h, w) <= small_size else big_iterations):
            for index, around, weights, from_seen, f_from_f, cross, b_from_b in colours:
                pull = from_seen + sum(weight * colour.take(near, 0)
                                       for weight, near in zip(weights, around))
                pull_f, pull_b = pull[:, :3], pull[:, 3:]
                updated = np.concatenate([f_from_f * pull_f + cross * pull_b,
                                          cross * pull_f + b_from_b * pull_b], 1)
                colour[index] = np.clip(updated, 0, 1)
        colour = colour.reshape(h, w, 6)
    return colour[..., :3], colour[..., 3:]


def _nearest(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize with the multilevel method's index rule (the picture itself
    at its own size)."""
    if (height, width) == picture.shape[:2]:
        return picture
    rows = np.minimum(np.arange(height) * picture.shape[0] // height, picture.shape[0] - 1)
    cols = np.minimum(np.arange(width) * picture.shape[1] // width, picture.shape[1] - 1)
    return picture.take(rows, 0).take(cols, 1)
