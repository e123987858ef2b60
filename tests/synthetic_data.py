"""Tiny synthetic matting datasets drawn with numpy, with exact ground-truth alpha."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def disc_scene(size: tuple[int, int], centre: tuple[float, float], radius: float, seed: int):
    """A striped orange disc (anti-aliased, exact coverage alpha) on a noisy blue-green background."""
    height, width = size
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot(rows - centre[0], cols - centre[1])
    alpha = np.clip(radius - distance + 0.5, 0.0, 1.0).astype(np.float32)
    stripes = 0.1 * np.sin(cols / 3.0)[..., None]
    foreground = np.array([0.9, 0.5, 0.1], np.float32) + stripes
    background = np.array([0.1, 0.4, 0.6], np.float32) + 0.2 * (rows / height)[..., None]
    background = background + rng.normal(0.0, 0.03, (height, width, 3))
    image = alpha[..., None] * foreground + (1.0 - alpha[..., None]) * background
    return np.clip(image, 0.0, 1.0).astype(np.float32), alpha


def trimap_for(alpha: np.ndarray, band: int = 4) -> np.ndarray:
    """0 / 128 / 255 trimap with an unknown band around the alpha's edge."""
    from scipy import ndimage

    inside = alpha > 0.5
    unknown = ndimage.binary_dilation(inside, iterations=band) & ~ndimage.binary_erosion(inside, iterations=band)
    return np.where(unknown, 128, np.where(inside, 255, 0)).astype(np.uint8)


def write_disc_dataset(folder: Path, trimaps: bool = False) -> Path:
    """Two groups of disc photographs (3 and 2 members) and one single; returns the manifest path."""
    layouts = {
        "discs": [((64, 80), (30, 40), 18), ((72, 56), (40, 25), 20), ((48, 96), (20, 60), 14)],
        "small_discs": [((60, 60), (30, 30), 10), ((50, 70), (22, 40), 12)],
    }
    (folder / "image").mkdir(parents=True, exist_ok=True)
    (folder / "alpha").mkdir(exist_ok=True)
    groups, seed = [], 0
    for name, scenes in layouts.items():
        members = []
        for index, (size, centre, radius) in enumerate(scenes):
            seed += 1
            member_id = f"{name}_{index:02d}"
            image, alpha = disc_scene(size, centre, radius, seed)
            Image.fromarray((image * 255 + 0.5).astype(np.uint8)).save(folder / "image" / f"{member_id}.png")
            Image.fromarray((alpha * 255 + 0.5).astype(np.uint8)).save(folder / "alpha" / f"{member_id}.png")
            member = {"id": member_id, "image": f"image/{member_id}.png", "alpha": f"alpha/{member_id}.png"}
            if trimaps:
                (folder / "trimap").mkdir(exist_ok=True)
                Image.fromarray(trimap_for(alpha)).save(folder / "trimap" / f"{member_id}.png")
                member["trimap"] = f"trimap/{member_id}.png"
            members.append(member)
        groups.append({"name": name, "kind": "category", "reference": members[0]["id"], "members": members})
    manifest = {
        "format": "icm-matting-dataset/1",
        "name": "synthetic-discs",
        "alpha_channel": 0,
        "alpha_floor": 0,
        "exif_transpose": True,
        "groups": groups,
        "singles": [groups[0]["members"][0]],
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def write_scene_dataset(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> Path:
    """One group of :mod:`icm_core.synthetic` scenes (the first is the reference), saved as PNGs
    with their exact alpha; returns the manifest path."""
    from icm_core import synthetic

    folder.mkdir(parents=True, exist_ok=True)
    members = []
    for index, size in enumerate(sizes):
        scene = synthetic.scene(index, size=size, seed=seed)
        member_id = f"pebble_{index:02d}"
        Image.fromarray((scene.image * 255 + 0.5).astype(np.uint8)).save(folder / f"{member_id}.png")
        # the alpha as 16-bit, so the ground truth is (almost) exactly the drawn coverage
        Image.fromarray((scene.alpha * 65535 + 0.5).astype(np.uint16)).save(folder / f"{member_id}_alpha.png")
        members.append({"id": member_id, "image": f"{member_id}.png", "alpha": f"{member_id}_alpha.png"})
    manifest = {
        "format": "icm-matting-dataset/1",
        "name": "synthetic-pebbles",
        "groups": [{"name": "pebbles", "kind": "category", "reference": members[0]["id"], "members": members}],
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path
