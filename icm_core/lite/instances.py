"""One instance when the reference shows one (the lite option ``one_instance``, on by
default): a target's look-alikes of the subject beyond as many as the reference painted are
dropped from its coarse maps.

The reference says how many subjects it shows (:func:`painted_instances`).  On a target, the
coarse probability falls into regions (cells above JOIN_LEVEL, so parts of one subject that
look different stay one region); a region the votes take for the subject as a whole (mean
probability at least INSTANCE_LEVEL) is an instance, while a weaker region is an unsure part
left for the refinement to decide (a plant's scattered leaves).  Each instance's support is the
in-context evidence it holds (the cross map's sum over it, weighed by its probability).  The
best-supported instances, as many as the reference painted, are kept, and so is any rival with
at least RIVAL_SHARE of the best one's support, holding a keep stroke, or lying where a shot's
recent frames had their subject (:func:`followed_cells`); the other instances (a bystander, a
pepper beside the knife) become background.  Neither the support nor its share per cell tells
a look-alike from the far part of a subject an occluder cuts in two (on
benchmarks/lite_sequence.py such parts held 0.05-0.57 of the best one's support, knife_01's
pepper 0.41); in a shot the frames before tell them apart, and on a single picture a keep
stroke brings a dropped part back.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import scale_to_fit
from .incontext import CoarseMaps, coverage

INSTANCE_LEVEL = 0.5
JOIN_LEVEL = 0.3
RIVAL_SHARE = 0.5
PART_SHARE = 0.1  # a painted part smaller than this share of the largest is a stray dab
COUNT_SIDE = 256  # long side at which painted parts are counted (a brush's gaps closed)


def painted_instances(mask: np.ndarray) -> int:
    """How many separate subjects a reference mask paints: its connected parts of at least
    PART_SHARE of the largest, counted at COUNT_SIDE with gaps of a few pixels closed."""
    size = scale_to_fit(mask.shape[:2], COUNT_SIDE)
    small = cv2.resize((mask > 0.5).astype(np.float32), size[::-1], interpolation=cv2.INTER_AREA)
    small = cv2.morphologyEx((small > 0.25).astype(np.uint8), cv2.MORPH_CLOSE,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    _, _, stats, _ = cv2.connectedComponentsWithStats(small, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    if not len(areas):
        return 0
    return int((areas >= PART_SHARE * areas.max()).sum())


def followed_cells(subject: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The cells (flat, boolean) of a (h, w) token grid that a shot's recent subject (a
    boolean pixel mask) touched, and their neighbours: a frame's motion."""
    touched = coverage(subject, grid) > 0
    return cv2.dilate(touched.astype(np.uint8), np.ones((3, 3), np.uint8)).ravel() > 0


def keep_supported(maps: CoarseMaps, instances: int,
                   pinned: np.ndarray | None = None) -> CoarseMaps:
    """``maps`` with the instances beyond the ``instances`` best supported ones (and their close
    rivals, and any holding a ``pinned`` keep cell) turned to background; unchanged when
    ``instances`` is 0 (unknown) or the target holds no more instances than that."""
    probability, cross = maps.probability, maps.cross
    if instances <= 0:
        return maps
    count, regions = cv2.connectedComponents((probability >= JOIN_LEVEL).astype(np.uint8),
                                             connectivity=8)
    cells = regions.ravel()
    area = np.bincount(cells, minlength=count)
    whole = np.bincount(cells, probability.ravel(), minlength=count) >= INSTANCE_LEVEL * area
    whole[0] = False
    if whole.sum() <= instances:
        return maps
    support = np.bincount(cells, (probability * cross).ravel(), minlength=count)
    support[~whole] = 0.0
    ranked = np.argsort(support)[::-1]
    kept = np.zeros(count, bool)
    kept[ranked[:instances]] = True
    kept |= support >= RIVAL_SHARE * support[ranked[0]]
    if pinned is not None:
        kept[np.unique(regions[pinned.reshape(regions.shape)])] = True
    dropped = whole & ~kept
    if not dropped.any():
        return maps
    drop = dropped[regions]
    return CoarseMaps(np.where(drop, 0.0, probability).astype(np.float32),
                      np.where(drop, 0.0, cross).astype(np.float32))
