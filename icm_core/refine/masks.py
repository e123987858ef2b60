"""Small helpers on masks shared by the refinement stages: correction strokes at another size
and pinned into a result, bounding boxes, and the regions the in-context evidence supports."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def shrink(mask: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
    """A boolean stroke mask at another (height, width): pixels at least half covered, or, for a
    stroke thinner than a pixel there, every pixel it touches."""
    if mask is None or mask.shape == tuple(size):
        return mask
    covered = cv2.resize(mask.astype(np.float32), size[::-1], interpolation=cv2.INTER_AREA)
    painted = covered >= 0.5
    return painted if painted.any() else covered > 0


def pin(array: np.ndarray, keep: np.ndarray | None, remove: np.ndarray | None) -> np.ndarray:
    """Set correction strokes in place: 1 (True) under ``keep``, 0 (False) under ``remove``."""
    for painted, value in ((keep, 1), (remove, 0)):
        if painted is not None:
            array[painted] = value
    return array


def bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Slices of the bounding box of ``mask``'s true pixels grown by ``margin`` (within the
    picture); ``mask`` must hold at least one."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, mask.shape[0])),
            slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, mask.shape[1])))


def strong_regions(subject: np.ndarray, support: np.ndarray, ratio: float) -> np.ndarray:
    """The connected regions of ``subject`` whose peak ``support`` is at least ``ratio`` of the
    best region's."""
    regions, count = ndimage.label(subject)
    if count <= 1:
        return subject
    # a region's peak reaches the bar exactly when one of its pixels does (no per-region sort)
    strong = parts_touching(regions, count, support >= ratio * support[subject].max())
    strong[0] = False
    return strong[regions]


def parts_touching(parts: np.ndarray, count: int, flags: np.ndarray) -> np.ndarray:
    """For each label 0 … ``count`` of ``parts``: whether any of its pixels is set in ``flags``."""
    return np.bincount(parts[flags], minlength=count + 1) > 0


def part_means(values: np.ndarray, parts: np.ndarray, count: int) -> np.ndarray:
    """The mean of ``values`` over each label 1 … ``count`` of ``parts``."""
    sums = np.bincount(parts.ravel(), values.ravel().astype(np.float64), minlength=count + 1)
    sizes = np.bincount(parts.ravel(), minlength=count + 1)
    return sums[1:] / np.maximum(sizes[1:], 1)
