"""Procedural scenes with an exact alpha: a series of one kind of subject on varied backgrounds.

Used for the bundled example series, tests and benchmarks (licence-clean: everything is drawn
here).  The subject is a striped, shaded "pebble" with a soft, slightly fuzzy rim; each scene
composites it over a different background with ``image = alpha·subject + (1 − alpha)·background``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Scene:
    image: np.ndarray  # H×W×3 float32
    alpha: np.ndarray  # H×W float32, exact
    foreground: np.ndarray | None = None  # H×W×3 float32: the subject's true colours, if known


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    coarse = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, size[::-1], interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, size: tuple[int, int], style: int) -> np.ndarray:
    height, width = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0.15, 0.85, 3).astype(np.float32)
    other = rng.uniform(0.15, 0.85, 3).astype(np.float32)
    if style == 0:  # diagonal gradient
        t = ((x / width + y / height) / 2)[..., None]
        picture = base * (1 - t) + other * t
    elif style == 1:  # checker / tiles
        tile = max(8, min(size) // 10)
        t = (((x // tile) + (y // tile)) % 2)[..., None]
        picture = base * (1 - t) + other * t
    elif style == 2:  # grass-like noise
        t = _smooth_noise(rng, size, 24)[..., None]
        picture = base * 0.6 + 0.4 * other * t
    else:  # wood-like stripes
        t = (0.5 + 0.5 * np.sin(y / max(4.0, height / 40) + 3 * _smooth_noise(rng, size, 6)))[..., None]
        picture = base * (0.7 + 0.3 * t)
    picture += rng.normal(0, 0.02, (height, width, 3)).astype(np.float32)
    return np.clip(picture, 0, 1).astype(np.float32)


def _subject(size: tuple[int, int], centre, radii, angle: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Subject colours and exact alpha of a rotated ellipse with a fuzzy rim."""
    height, width = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cos, sin = np.cos(angle), np.sin(angle)
    u = ((x - centre[1]) * cos + (y - centre[0]) * sin) / radii[1]
    v = (-(x - centre[1]) * sin + (y - centre[0]) * cos) / radii[0]
    radius = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    # Fuzzy rim: the boundary wobbles with angle (like fur), and is soft over a few pixels.
    rim = 1.0 + 0.04 * np.sin(24 * theta) + 0.02 * np.sin(57 * theta + 1.0)
    softness = 3.0 / max(min(radii), 1.0) + 0.03
    alpha = np.clip((rim - radius) / softness + 0.5, 0.0, 1.0)
    stripes = 0.5 + 0.5 * np.sin(12.0 * u + 2.0 * np.sin(3.0 * v))
    shade = np.clip(1.1 - 0.45 * radius, 0.3, 1.0)
    warm = np.array([0.95, 0.55, 0.15], np.float32)
    dark = np.array([0.35, 0.12, 0.05], np.float32)
    colour = (warm * stripes[..., None] + dark * (1 - stripes[..., None])) * shade[..., None]
    return np.clip(colour, 0, 1).astype(np.float32), alpha.astype(np.float32)


def scene(index: int, size: tuple[int, int] = (480, 640), seed: int = 0) -> Scene:
    """The ``index``-th scene of a series: the same kind of subject, a different place,
    scale, orientation and background."""
    rng = np.random.default_rng([seed, index])
    height, width = size
    short = min(size)
    radii = (short * rng.uniform(0.18, 0.3), short * rng.uniform(0.25, 0.4))
    centre = (height * rng.uniform(0.35, 0.65), width * rng.uniform(0.35, 0.65))
    colour, alpha = _subject(size, centre, radii, rng.uniform(-0.6, 0.6), rng)
    background = _background(rng, size, index % 4)
    image = alpha[..., None] * colour + (1 - alpha[..., None]) * background
    return Scene(image.astype(np.float32), alpha, colour)


def series(count: int, size: tuple[int, int] = (480, 640), seed: int = 0) -> list[Scene]:
    return [scene(i, size, seed) for i in range(count)]


def crowd(index: int, size: tuple[int, int] = (480, 640), seed: int = 0,
          cooler: bool = False) -> tuple[Scene, np.ndarray]:
    """A series scene with two look-alike bystanders beside the subject: smaller, duller (or
    blue-ish) pebbles left and right of it.  Returns the scene (alpha: the subject only) and the
    bystanders' own alpha, for tests of corrections."""
    rng = np.random.default_rng([seed, index, 1])
    height, width = size
    short = min(size)
    radii = (short * 0.2, short * 0.26)
    colour, alpha = _subject(size, (height * 0.5, width * 0.5), radii, rng.uniform(-0.3, 0.3), rng)
    image = alpha[..., None] * colour + (1 - alpha[..., None]) * _background(rng, size, index % 4)
    bystanders = np.zeros(size, np.float32)
    for side in (0.13, 0.87):
        centre = (height * rng.uniform(0.35, 0.65), width * side)
        look, cover = _subject(size, centre, (radii[0] * 0.6, radii[1] * 0.45), rng.uniform(-1, 1), rng)
        # same stripes, duller or another hue
        look = 0.6 * look[..., ::-1] + 0.25 * look if cooler else 0.8 * look + 0.1
        image = cover[..., None] * look + (1 - cover[..., None]) * image
        alpha = alpha * (1 - cover)
        bystanders = np.maximum(bystanders, cover)
    return Scene(np.clip(image, 0, 1).astype(np.float32), alpha.astype(np.float32)), bystanders


def turning_frame(t: int, count: int, size: tuple[int, int] = (240, 320)) -> Scene:
    """Frame ``t`` of a ``count``-frame shot whose subject turns (orange stripes become green
    mottle) in the first half and whose background changes (blue mottle becomes orange stripes)
    in the second: by the end the subject looks like the first frame's background and the
    background like its subject, so the first frame alone teaches the opposite of the truth,
    while each frame is close to the one before it."""
    orange, green, blue = (np.array(c, np.float32) for c in
                           ((0.95, 0.55, 0.15), (0.2, 0.7, 0.3), (0.2, 0.3, 0.8)))
    s = t / (count - 1)
    height, width = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    _, alpha = _subject(size, (height * 0.5, width * (0.4 + 0.2 * s)),
                        (height * 0.28, width * 0.2), 0.3 * s, None)
    striped = (0.3 + 0.7 * (0.5 + 0.5 * np.sin(x / 4.0 + y / 9.0)))[..., None] * orange
    mottle = _smooth_noise(np.random.default_rng(7), size, 16)[..., None]
    turned, changed = min(1.0, 2 * s), max(0.0, 2 * s - 1)
    subject = (1 - turned) * striped + turned * (0.5 + 0.5 * mottle) * green
    background = (1 - changed) * (0.5 + 0.5 * mottle[::-1]) * blue + changed * striped[:, ::-1]
    image = alpha[..., None] * subject + (1 - alpha[..., None]) * background
    return Scene(np.clip(image, 0, 1).astype(np.float32), alpha)
