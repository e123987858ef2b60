"""Fit any aspect ratio into a model's square (or fixed) input by letterboxing, and back.

Never stretches: the image is scaled uniformly so that it fits, padded to the input size, and
:meth:`Letterbox.crop_back` undoes exactly that, returning the original height and width.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """Where an ``source`` (height, width) image sits inside a ``canvas`` (height, width)."""

    source: tuple[int, int]
    canvas: tuple[int, int]
    scale: float
    top: int
    left: int
    inner: tuple[int, int]  # the scaled image's size inside the canvas

    @classmethod
    def fit(cls, source: tuple[int, int], canvas: tuple[int, int] | int) -> "Letterbox":
        """Scale ``source`` uniformly to fit inside ``canvas`` and centre it."""
        if isinstance(canvas, int):
            canvas = (canvas, canvas)
        height, width = source
        scale = min(canvas[0] / height, canvas[1] / width)
        inner = (
            min(canvas[0], max(1, round(height * scale))),
            min(canvas[1], max(1, round(width * scale))),
        )
        top = (canvas[0] - inner[0]) // 2
        left = (canvas[1] - inner[1]) // 2
        return cls(tuple(source), tuple(canvas), scale, top, left, inner)

    def apply(self, array: np.ndarray, fill: float | str = "edge") -> np.ndarray:
        """Resize ``array`` (H×W or H×W×C) into the canvas; pad with ``fill`` or edge pixels."""
        resized = resize(array, self.inner)
        pad = [
            (self.top, self.canvas[0] - self.inner[0] - self.top),
            (self.left, self.canvas[1] - self.inner[1] - self.left),
        ] + [(0, 0)] * (array.ndim - 2)
        if fill == "edge":
            return np.pad(resized, pad, mode="edge")
        return np.pad(resized, pad, mode="constant", constant_values=fill)

    def valid(self) -> tuple[slice, slice]:
        """Canvas slices covering the (scaled) image without the padding."""
        return (
            slice(self.top, self.top + self.inner[0]),
            slice(self.left, self.left + self.inner[1]),
        )

    def crop_back(self, array: np.ndarray) -> np.ndarray:
        """Cut the padding from a canvas-sized ``array`` and resize to the source size."""
        if array.shape[:2] != self.canvas:
            raise ValueError(f"expected a {self.canvas} canvas, got {array.shape[:2]}")
        rows, cols = self.valid()
        return resize(array[rows, cols], self.source)


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` = (height, width): area averaging to shrink, bicubic to enlarge.

    Results are clipped to the input's range: bicubic overshoot and float32 rounding of area
    averages (1.0000001) never leave [0, 1].
    """
    height, width = size
    if array.shape[:2] == (height, width):
        return array.copy()
    shrinking = height * width < array.shape[0] * array.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(array, (width, height), interpolation=interpolation)
    if out.ndim < array.ndim:  # cv2 drops a trailing channel axis of size 1
        out = out[..., None]
    return np.clip(out, array.min(), array.max())


def scale_to_fit(size: tuple[int, int], max_side: int, min_side: int = 0) -> tuple[int, int]:
    """The (height, width) of ``size`` scaled down so its long side is at most ``max_side``,
    unless that would make its short side smaller than ``min_side`` (long strips)."""
    height, width = size
    factor = min(1.0, max(max_side / max(height, width), min_side / min(height, width)))
    return max(1, round(height * factor)), max(1, round(width * factor))
