"""Completion: a second graph cut (colour histograms plus the coarse map's log-odds, max flow on
a pixel grid) whose parts complete the subject GrabCut cut out.  What it mends and costs:
benchmarks/lite_completeness.py."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from ..geometry import resize, scale_to_fit
from .grabcut import squared_difference
from .masks import part_means, parts_touching, shrink, strong_regions

COMPLETION_PRIOR = 0.5  # weight of the coarse map's log-odds beside the colour model's
COMPLETION_SCALE = 0.5  # the cut's resolution, as a fraction of the graph cut's
#: an added part's least mean in-context support, as a fraction of the subject's mean
COMPLETION_SUPPORT = 0.2
#: the least peak support of the subject region an added part touches, as a fraction of the
#: best region's
COMPLETION_ANCHOR = 0.7
#: the least mean colour log-odds of an added part that reaches the background (negated: of one
#: that only the subject and the frame bound)
COMPLETION_COLOUR = -0.25


def complete(image: np.ndarray, probability: np.ndarray, subject: np.ndarray,
             keep: np.ndarray | None = None, remove: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """A second opinion on ``subject`` (GrabCut's) for the parts its hard labels drop (a
    keyboard whose greys its colour model gives to the background, a doll's legs where the
    coarse map is unsure): a graph cut whose unary term is a colour model learnt from the
    coarse ``probability`` and ``subject`` together as soft labels, plus the probability's own
    log-odds (weight COMPLETION_PRIOR), on a contrast-sensitive 8-connected grid at
    COMPLETION_SCALE of ``image``'s size.  Returns the cut (boolean) and the colour model's
    log-odds, both at ``image``'s size."""
    size = image.shape[:2]
    small_size = scale_to_fit(size, max(16, round(max(size) * COMPLETION_SCALE)))
    small = resize(image, small_size).astype(np.float32)
    sure = np.clip(cv2.resize(probability, small_size[::-1], interpolation=cv2.INTER_AREA),
                   0.02, 0.98)
    # half the colours' say from the graph cut: the coarse map alone, overpainted by a rough
    # reference stroke, teaches the background's colours as the subject's
    weight = 0.5 * sure + 0.5 * cv2.resize(subject.astype(np.float32), small_size[::-1],
                                           interpolation=cv2.INTER_AREA)
    colour_odds = _colour_log_odds(small, weight)
    odds = colour_odds + COMPLETION_PRIOR * np.log(sure / (1.0 - sure))
    keep, remove = shrink(keep, small_size), shrink(remove, small_size)
    if keep is not None:
        odds[keep] = 1e3
    if remove is not None:
        odds[remove] = -1e3
    cut = _min_cut(odds, _grid_links(small))
    cut = cv2.resize(cut.astype(np.float32), size[::-1], interpolation=cv2.INTER_LINEAR) > 0.5
    return cut, cv2.resize(colour_odds.astype(np.float32), size[::-1],
                           interpolation=cv2.INTER_LINEAR)


def completed(subject: np.ndarray, cut: np.ndarray, colour_odds: np.ndarray,
              support: np.ndarray | None) -> np.ndarray:
    """``subject`` with the parts of ``cut`` outside it that complete it.  A part must reach
    the background with mean ``colour_odds`` of at least COMPLETION_COLOUR (one whose colours
    speak for the background was pulled in by the coarse map alone: a road under a car), or
    reach the frame with at least −COMPLETION_COLOUR (a part only the subject and the frame
    bound may be a gap the subject closes beyond the frame, as between leaves; a gap the subject
    encloses is one the cut's smoothness closed, never added).  With ``support``, it must carry
    at least COMPLETION_SUPPORT of the subject's mean support (a rim or pole of the subject's
    colour carries little of the reference's) and touch a region of the subject whose peak
    support is at least COMPLETION_ANCHOR of the best region's (a weak region may be a
    bystander the reference half-finds)."""
    added, count = ndimage.label(cut & ~subject)
    if count == 0:
        return subject
    anchors = subject if support is None else strong_regions(subject, support, COMPLETION_ANCHOR)
    touching = parts_touching(added, count, _grown(anchors))[1:]
    outside = ~(subject | (added > 0))
    reaching_out = parts_touching(added, count, _grown(outside))[1:]
    frame = np.ones(subject.shape, bool)
    frame[1:-1, 1:-1] = False
    at_frame = parts_touching(added, count, frame)[1:]
    colour = part_means(colour_odds, added, count)
    kept = touching & ((reaching_out & (colour >= COMPLETION_COLOUR))
                       | (at_frame & (colour >= -COMPLETION_COLOUR)))
    if support is not None:
        mean_support = part_means(support, added, count)
        kept &= mean_support >= COMPLETION_SUPPORT * float(support[subject].mean())
    return subject | np.concatenate([[False], kept])[added]


def _grown(mask: np.ndarray) -> np.ndarray:
    """``mask`` and its 4-connected neighbours (scipy's default binary dilation)."""
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    return cv2.dilate(mask.astype(np.uint8), cross, borderType=cv2.BORDER_CONSTANT,
                      borderValue=0) > 0


def _colour_log_odds(image: np.ndarray, weight: np.ndarray, bins: int = 16) -> np.ndarray:
    """log P(colour | subject) / P(colour | background) per pixel, from colour histograms
    (``bins`` per channel, smoothed by one bin) weighted by ``weight`` and 1 − ``weight``."""
    levels = np.clip((image * bins).astype(np.int64), 0, bins - 1)
    index = (levels[..., 0] * bins + levels[..., 1]) * bins + levels[..., 2]
    counts = [np.bincount(index.ravel(), w.ravel(), bins**3).reshape((bins,) * 3)
              for w in (weight, 1.0 - weight)]
    subject, background = (ndimage.gaussian_filter(c, 1.0) for c in counts)
    subject = subject / max(subject.sum(), 1e-9) + 1e-6
    background = background / max(background.sum(), 1e-9) + 1e-6
    return np.log(subject / background).ravel()[index]


def _grid_links(image: np.ndarray, smoothness: float = 50.0):
    """The pairwise links of an 8-connected pixel grid as ((dy, dx), weights): each pixel's
    link to its neighbour at that offset has GrabCut's contrast-sensitive smoothness,
    ``smoothness``/distance × exp(−β‖ΔI‖²), β from the mean contrast."""
    height, width = image.shape[:2]
    contrasts = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        contrast = np.zeros((height, width), np.float32)
        here = (slice(0, height - dy), slice(max(0, -dx), width - max(0, dx)))
        there = (slice(dy, height), slice(max(0, dx), width + min(0, dx)))
        contrast[here] = squared_difference(image, here, there)
        contrasts.append(((dy, dx), contrast, contrast[here].mean(), contrast[here].size))
    mean = sum(m * n for *_, m, n in contrasts) / sum(n for *_, n in contrasts)
    beta = 0.5 / max(float(mean), 1e-9)
    # links to pixels outside the grid get no edge (pymaxflow skips them), so their weights
    # are never read
    return [((dy, dx), smoothness / np.hypot(dy, dx) * np.exp(-beta * contrast))
            for (dy, dx), contrast, *_ in contrasts]


def _min_cut(odds: np.ndarray, links) -> np.ndarray:
    """Subject side of the minimum cut: ``odds`` (log-odds of subject per pixel) as terminal
    links, ``links`` (:func:`_grid_links`) as pairwise ones; Boykov-Kolmogorov max flow."""
    import maxflow

    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes(odds.shape)
    for (dy, dx), weights in links:
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1.0
        graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
    graph.add_grid_tedges(nodes, np.clip(odds, 0, None), np.clip(-odds, 0, None))
    graph.maxflow()
    return ~graph.get_grid_segments(nodes)  # True: the sink's (background's) side
