"""Reference guidance as artists brush it, sampled from a ground-truth alpha for training.

Styles: ``exact`` (alpha ≥ 0.5, the evaluation protocol), ``eroded`` / ``dilated`` (a careful
or a fat brush), ``scribble`` (a few thick strokes inside the subject), ``partial`` (the subject
cut by a random straight line, one side kept).  All sizes scale with the picture.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..api import InvalidInput
from ..evaluation import reference_mask

STYLES = ("exact", "eroded", "dilated", "scribble", "partial")
MAX_BRUSH = 0.04  # erosion/dilation radius, at most this fraction of the picture's side
SCRIBBLE_WIDTH = (0.03, 0.07)  # stroke width, as a fraction of the picture's side


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _radius(rng: np.random.Generator, side: int) -> int:
    return int(rng.integers(1, max(2, round(MAX_BRUSH * side)) + 1))


def _scribble(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = max(mask.shape)
    width = max(1, round(rng.uniform(*SCRIBBLE_WIDTH) * side))
    core = cv2.erode(mask, _disc(max(1, width // 2)))  # strokes stay inside the subject
    rows, cols = np.nonzero(core if core.any() else mask)
    strokes = np.zeros_like(mask)
    for _ in range(int(rng.integers(1, 4))):
        chosen = rng.integers(0, len(rows), size=int(rng.integers(2, 6)))
        points = np.stack([cols[chosen], rows[chosen]], axis=1).astype(np.int32)
        cv2.polylines(strokes, [points], isClosed=False, color=1.0, thickness=width)
    return strokes * mask


def _partial(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.sin(angle), np.cos(angle)])
    distance = (rows - rows.mean()) * direction[0] + (cols - cols.mean()) * direction[1]
    cut = np.quantile(distance, rng.uniform(0.3, 0.7))  # keep 30-70 % of the subject
    kept = np.zeros_like(mask)
    keep = distance <= cut
    kept[rows[keep], cols[keep]] = 1.0
    return kept


def guidance_mask(alpha: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """A float32 {0, 1} mask in ``style`` for the subject of ``alpha`` (H×W in [0, 1])."""
    if style not in STYLES:
        raise InvalidInput(f"Unknown guidance style {style!r}: choose from {', '.join(STYLES)}.")
    mask = reference_mask(alpha, "exact")
    if style == "exact" or not mask.any():
        return mask
    side = max(mask.shape)
    if style == "eroded":
        eroded = cv2.erode(mask, _disc(_radius(rng, side)))
        return eroded if eroded.any() else mask  # a thin subject survives as it is
    if style == "dilated":
        return cv2.dilate(mask, _disc(_radius(rng, side)))
    if style == "scribble":
        return _scribble(mask, rng)
    return _partial(mask, rng)


def pick_style(weights: dict[str, float], rng: np.random.Generator) -> str:
    names = [name for name in STYLES if weights.get(name, 0) > 0]
    chances = np.array([weights[name] for name in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=chances / chances.sum()))]
