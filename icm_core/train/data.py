"""Training pictures from grouped manifests, their views, and one training sample.

Every picture of a group is a target once per epoch (per view); its reference is another
member of the same group.  A *view* is a square region of the picture resized to the model
size: view 0 the centre square, views 1… fixed random squares (the same for every run, so
their features can be cached).  Crops are therefore part of the cache key; flips are not:
a flip is applied to the cached features (maps and the query and key axes of the attention)
exactly as to the picture, alpha and masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..api import InvalidInput
from ..datasets import Member, load_manifest
from ..geometry import resize
from .cache import content_key


@dataclass(frozen=True)
class Picture:
    member: Member
    group: int
    segmentation: bool


@dataclass
class View:
    """A picture's view at the model size: image H×W×3, alpha H×W, trimap H×W or None."""

    image: np.ndarray
    alpha: np.ndarray
    trimap: np.ndarray | None


def _size(path: Path, exif_transpose: bool) -> tuple[int, int] | None:
    """(height, width) from the file header, or None when Pillow cannot tell."""
    try:
        with Image.open(path) as probe:
            width, height = probe.size
            turned = exif_transpose and probe.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return (width, height) if turned else (height, width)


def check_member(member: Member, where: str) -> None:
    """Refuse an alpha (or trimap) whose size differs from its image's, before training."""
    image = _size(member.image_path, member.exif_transpose)
    if image is None:
        image = member.load_image().shape[:2]
    for label, path in (("alpha", member.alpha_path), ("trimap", member.trimap_path)):
        if path is None:
            continue
        other = _size(path, member.exif_transpose)
        if other is None:
            other = (member.load_alpha() if label == "alpha" else member.load_trimap()).shape[:2]
        if other != image:
            raise InvalidInput(
                f"{where}: member {member.id!r} has a {image[1]}×{image[0]} px image but a "
                f"{other[1]}×{other[0]} px {label} ({path.name}); they must match.")


class TrainingSet:
    """Pictures of every group of the given manifests (matting first, then segmentation)."""

    def __init__(self, matting: list[str], segmentation: list[str], *,
                 allow_outside: bool = False):
        self.pictures: list[Picture] = []
        self.groups: list[list[int]] = []
        for paths, is_segmentation in ((matting, False), (segmentation, True)):
            for path in paths:
                dataset = load_manifest(path, allow_outside=allow_outside)
                if not dataset.groups:
                    raise InvalidInput(
                        f"The manifest {path} has no groups: training draws a reference and a "
                        "target from the same group, so list pictures in groups of two or more.")
                for group in dataset.groups:
                    members = []
                    for member in group.members:
                        check_member(member, f"{path}, group {group.name!r}")
                        members.append(len(self.pictures))
                        self.pictures.append(Picture(member, len(self.groups), is_segmentation))
                    self.groups.append(members)

    def __len__(self) -> int:
        return len(self.pictures)


def load_pair(member: Member) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    image, alpha, trimap = member.load_image(), member.load_alpha(), member.load_trimap()
    if image.shape[:2] != alpha.shape or (trimap is not None and trimap.shape != alpha.shape):
        raise InvalidInput(f"Member {member.id!r}: its image, alpha and trimap sizes differ.")
    return image, alpha, trimap


def crop_box(shape: tuple[int, int], view: int, member: Member) -> tuple[int, int, int]:
    """(top, left, side) of the view's square; the same for every run."""
    height, width = shape
    short = min(height, width)
    if view == 0:
        return (height - short) // 2, (width - short) // 2, short
    rng = np.random.default_rng([int(content_key(str(member.image_path))[:12], 16), view])
    side = max(1, round(short * rng.uniform(0.5, 1.0)))
    return int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1)), side


def make_view(member: Member, view: int, size: int) -> View:
    image, alpha, trimap = load_pair(member)
    top, left, side = crop_box(alpha.shape, view, member)
    window = (slice(top, top + side), slice(left, left + side))
    image = resize(image[window], (size, size))
    alpha = resize(alpha[window], (size, size))
    if trimap is not None:  # nearest keeps its three levels
        trimap = cv2.resize(trimap[window], (size, size), interpolation=cv2.INTER_NEAREST)
    return View(np.ascontiguousarray(image), np.ascontiguousarray(alpha), trimap)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def unknown_band(alpha: np.ndarray, radius: int, trimap: np.ndarray | None = None) -> np.ndarray:
    """{0, 1} float32 map of the uncertain region: the trimap's unknown pixels when there is a
    trimap, else the soft pixels and the 0.5-contour, widened by ``radius`` pixels."""
    if trimap is not None:
        return ((trimap > 0.0) & (trimap < 1.0)).astype(np.float32)
    hard = (alpha >= 0.5).astype(np.uint8)
    edge = cv2.morphologyEx(hard, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    uncertain = (((alpha > 0.01) & (alpha < 0.99)) | (edge > 0)).astype(np.uint8)
    if radius > 0:
        uncertain = cv2.dilate(uncertain, _disc(radius))
    return uncertain.astype(np.float32)


def foreground_background(image: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background colours explaining ``image`` under ``alpha`` (for the
    composition loss when the dataset has no separate layers)."""
    from ..refine.foreground import multilevel_foreground

    return multilevel_foreground(image.astype(np.float32), alpha.astype(np.float32))
