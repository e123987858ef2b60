"""Test pictures for the Krita sessions (numpy only: imported inside Krita too)."""

from __future__ import annotations


def bottle_photo(np, size, cx, cy, seed):
    """A photo-like picture (Krita's BGRA bytes, H×W×4 uint8) of a bottle — body and a thin
    neck — on a textured, shaded backdrop, and the bottle's mask."""
    width, height = size
    scale = height / 600
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    backdrop = np.stack([0.35 + 0.25 * xx / width, 0.45 + 0.2 * yy / height, 0.3 + 0 * xx], axis=2)
    backdrop += rng.normal(0, 0.03, backdrop.shape).astype(np.float32)
    body = (np.abs(xx - cx) < 60 * scale) & (np.abs(yy - cy) < 130 * scale)
    neck = (np.abs(xx - cx) < 16 * scale) & (yy > cy - 230 * scale) & (yy <= cy - 130 * scale)
    subject = body | neck
    rgb = np.where(subject[..., None], np.array([0.15, 0.55, 0.2], np.float32), backdrop)
    rgb += (0.12 * np.sin(xx / 9.0))[..., None] * subject[..., None]  # glass highlights
    rgba = np.concatenate([np.clip(rgb, 0, 1), np.ones((height, width, 1), np.float32)], axis=2)
    bgra = (rgba[..., [2, 1, 0, 3]] * 255 + 0.5).astype(np.uint8)
    return bgra, subject
