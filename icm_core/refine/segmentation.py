"""Segmentation: a graph cut (GrabCut, colour models learnt from the target itself)
snaps a coarse probability to the target's colours and edges; unsupported regions are dropped."""

from __future__ import annotations

import cv2
import numpy as np

from .completion import complete, completed
from .grabcut import grab_cut
from .masks import strong_regions

#: a region whose peak in-context support is under this share of the best region's is dropped
REGION_SUPPORT = 0.35


def segment(image: np.ndarray, probability: np.ndarray, support: np.ndarray | None = None,
            seed: int = 0, sure: float = 0.9, keep: np.ndarray | None = None,
            remove: np.ndarray | None = None, completion: bool = False,
            iterations: int = 5) -> np.ndarray:
    """Binary subject mask at ``image``'s size from a coarse ``probability`` of any size.

    Pixels with probability above ``sure`` (below ``1 - sure``) are fixed as subject
    (background); the rest is decided by GrabCut (``iterations``); with ``completion``,
    :func:`~icm_core.refine.completion.complete` then adds back parts of the subject GrabCut
    dropped.  With ``support`` (a map of in-context evidence), connected regions whose peak
    support is far below the best region's are dropped.
    ``keep`` / ``remove`` (boolean, ``image``'s size) are hard labels, kept whatever the support.
    """
    height, width = image.shape[:2]
    prob = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
    labels = np.where(prob > 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[prob > sure] = cv2.GC_FGD
    labels[prob < 1.0 - sure] = cv2.GC_BGD
    if keep is not None:
        labels[keep] = cv2.GC_FGD
    if remove is not None:
        labels[remove] = cv2.GC_BGD
    has_both = (labels == cv2.GC_FGD).any() and (labels == cv2.GC_BGD).any()
    if has_both and (labels >= cv2.GC_PR_BGD).any():
        grab_cut((image * 255.0 + 0.5).astype(np.uint8), labels, iterations, seed)
    subject = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if support is not None:
        support = cv2.resize(support, (width, height))
        if keep is not None:
            support[keep] = max(float(support.max()), 1.0)
    if completion and subject.any():
        subject = completed(subject, *complete(image, prob, subject, keep, remove), support)
    if support is not None:
        subject = strong_regions(subject, support, REGION_SUPPORT)
    return subject
