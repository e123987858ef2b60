"""From a coarse foreground estimate to a fine, full-resolution alpha — shared by the engines.

1. :func:`segment` snaps a coarse probability to the target's own colours and edges with a
   graph cut (OpenCV's GrabCut, colour models learnt from the target itself) and drops
   regions the in-context evidence does not support.
2. :func:`trimap_from_segmentation` opens an unknown band around the boundary whose width
   follows the image size and widens where the coarse estimate was uncertain.
3. :func:`closed_form_alpha` solves closed-form matting on the band's bounding box (scipy's
   sparse LU on the unknown pixels' rows of the matting Laplacian, numbered by nested
   dissection: no JIT compilation, so the first matte after installing is as fast as the next).
4. :func:`guided_upsample` carries an alpha computed at a working resolution up to the full
   resolution with a fast guided filter driven by the full-resolution picture, so memory stays
   bounded (no full-resolution linear system).
5. :func:`estimate_foreground` gives un-premultiplied subject colours for cutouts.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from scipy import ndimage

from .geometry import resize, scale_to_fit

log = logging.getLogger(__name__)

WORK_SIDE = 640  # graph cut resolution (long side)
MATTING_SIDE = 1024  # closed-form matting resolution (long side)
#: how much wider (in band widths) the unknown band grows where the boundary is textured;
#: chosen by leave-one-group-out (benchmarks/lite_quality.py)
TEXTURE_BAND = 1.5
#: multilevel foreground estimation: two more passes over the pyramid and a tenth of the
#: default smoothness cut the colour error on soft rims (procedural scenes, exact alpha:
#: 0.017 → 0.010, background bleeding in as fringes) for 11 % more time
FOREGROUND_ML = {"big_iterations": 4, "gradient_weight": 0.1}
#: the completion cut (:func:`complete`; lite's ``completion`` option, on by default): weight of the
#: coarse map's log-odds beside the colour model's, chosen by leave-one-group-out over none, 0.25,
#: 0.5 and 1 (benchmarks/lite_quality.py --tune), and its resolution as a fraction of the graph
#: cut's.  A part it adds must carry at least COMPLETION_SUPPORT of the subject's mean in-context
#: support: without that test it grows into look-alikes touching the subject, and a remove dab on
#: the rim reshapes such a part far from the dab (tests/test_lite_hints.py); of 0.2 and 0.3
#: leave-one-group-out picks 0.2.  It must touch a subject region whose peak support is at least
#: COMPLETION_ANCHOR of the best region's (a weak region that survived the support filter may be a
#: bystander: a knife's reference half-finds a pepper, which completion would finish), and its mean
#: colour log-odds must be at least COMPLETION_COLOUR (a part whose colours speak for the background
#: was pulled in by the coarse map alone: a road under a car, a dark gap between a doll's arms) —
#: or, for a part only the subject and the frame bound, at least −COMPLETION_COLOUR.  Both by
#: leave-one-group-out over icm58-dev + alphamatting with exact, half and rough reference masks
#: (anchor 0, 0.5, 0.7, 0.85 × colour none, -1, -0.5, -0.25, 0): 0.7 and 0.85 tie, the looser 0.7 is
#: kept.  What completion mends and costs: benchmarks/lite_completeness.py
COMPLETION_PRIOR = 0.5
COMPLETION_SUPPORT = 0.2
COMPLETION_ANCHOR = 0.7
COMPLETION_COLOUR = -0.25
COMPLETION_SCALE = 0.5
# Shortest side of the matting picture: a long strip scaled to MATTING_SIDE would be 1-2 px
# high, where closed-form matting has no 3×3 window and its solver divides by zero.
MATTING_MIN_SIDE = 16


def segment(image: np.ndarray, probability: np.ndarray, support: np.ndarray | None = None,
            seed: int = 0, sure: float = 0.9, keep: np.ndarray | None = None,
            remove: np.ndarray | None = None, completion: bool = False,
            iterations: int = 5) -> np.ndarray:
    """Binary subject mask at ``image``'s size from a coarse ``probability`` of any size.

    Pixels with probability above ``sure`` (below ``1 - sure``) are fixed as subject
    (background); the rest is decided by GrabCut (``iterations``); with ``completion``,
    :func:`complete` then adds back parts of the subject GrabCut dropped.  With ``support`` (a
    map of in-context evidence), connected regions whose peak support is far below the best
    region's are dropped.
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
        pixels = cv2.cvtColor((image * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
        cv2.setRNGSeed(seed)  # GrabCut's colour-model k-means is randomised
        background_model = np.zeros((1, 65), np.float64)
        subject_model = np.zeros((1, 65), np.float64)
        cv2.grabCut(pixels, labels, None, background_model, subject_model, iterations,
                    cv2.GC_INIT_WITH_MASK)
    subject = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if support is not None:
        support = cv2.resize(support, (width, height))
        if keep is not None:
            support[keep] = max(float(support.max()), 1.0)
    if completion and subject.any():
        subject = _completed(subject, *complete(image, prob, subject, keep, remove), support)
    if support is not None:
        subject = _strong_regions(subject, support, 0.35)  # "far below": under 0.35 of it
    return subject


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


def _completed(subject: np.ndarray, cut: np.ndarray, colour_odds: np.ndarray,
               support: np.ndarray | None) -> np.ndarray:
    """``subject`` with the parts of ``cut`` outside it that complete it.  A part must reach
    the background with mean ``colour_odds`` of at least COMPLETION_COLOUR, or reach the frame
    with at least −COMPLETION_COLOUR (a part only the subject and the frame bound may be a gap
    the subject closes beyond the frame, as between leaves; a gap the subject encloses is one
    the cut's smoothness closed, never added).  With ``support``, it must carry at least
    COMPLETION_SUPPORT of the subject's mean support (a rim or pole of the subject's colour
    carries little of the reference's) and touch a region of the subject whose peak support is
    at least COMPLETION_ANCHOR of the best region's."""
    added, count = ndimage.label(cut & ~subject)
    if count == 0:
        return subject
    parts = np.arange(1, count + 1)
    anchors = subject if support is None else _strong_regions(subject, support, COMPLETION_ANCHOR)
    touching = ndimage.maximum(ndimage.binary_dilation(anchors), added, parts) > 0
    outside = ~(subject | (added > 0))
    reaching_out = ndimage.maximum(ndimage.binary_dilation(outside), added, parts) > 0
    frame = np.ones(subject.shape, bool)
    frame[1:-1, 1:-1] = False
    at_frame = ndimage.maximum(frame, added, parts) > 0
    colour = ndimage.mean(colour_odds, added, parts)
    kept = touching & ((reaching_out & (colour >= COMPLETION_COLOUR))
                       | (at_frame & (colour >= -COMPLETION_COLOUR)))
    if support is not None:
        mean_support = ndimage.mean(support, added, parts)
        kept &= mean_support >= COMPLETION_SUPPORT * float(support[subject].mean())
    return subject | np.concatenate([[False], kept])[added]


def _strong_regions(subject: np.ndarray, support: np.ndarray, ratio: float) -> np.ndarray:
    """The connected regions of ``subject`` whose peak ``support`` is at least ``ratio`` of the
    best region's."""
    regions, count = ndimage.label(subject)
    if count <= 1:
        return subject
    peaks = ndimage.maximum(support, regions, index=np.arange(1, count + 1))
    strong = np.zeros(count + 1, bool)
    strong[1:] = peaks >= ratio * peaks.max()
    return strong[regions]


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
        contrast[here] = ((image[here] - image[there]) ** 2).sum(-1)
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


def trimap_from_segmentation(subject: np.ndarray, uncertainty: np.ndarray | None = None,
                             image: np.ndarray | None = None) -> np.ndarray:
    """Trimap (0 background, 0.5 unknown, 1 subject) with an adaptive unknown band.

    The band is about 1 % of the long side wide, at least 3 px, and up to 2.5 times wider
    where ``uncertainty`` (same size, 0 sure … 1 unsure) is high; with ``image`` (same size),
    up to TEXTURE_BAND times wider again where the boundary is textured (:func:`texture`).
    """
    width = max(3.0, 0.01 * max(subject.shape))
    distance = _boundary_distance(subject)
    limit = width if uncertainty is None else width * (1.0 + 1.5 * np.clip(uncertainty, 0.0, 1.0))
    if image is not None and TEXTURE_BAND > 0:
        limit = limit + width * TEXTURE_BAND * texture(image, distance <= 2 * width, width)
    trimap = subject.astype(np.float32)
    trimap[distance <= limit] = 0.5
    return trimap


def _boundary_distance(subject: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest pixel on the other side of the
    ``subject`` boundary (OpenCV's exact transform: a few times faster than scipy's)."""
    inside = subject.astype(np.uint8)
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(subject, distance, outside)


def texture(image: np.ndarray, near: np.ndarray, width: float) -> np.ndarray:
    """0 … 1 per pixel: how busy the picture is around it.  Over a band-wide window, the mean
    gradient magnitude minus the magnitude of the mean gradient: a clean edge's gradients all
    point one way and cancel out of it, strands of hair, fur and leaves do not.  Relative to the
    busiest tenth of the edge energy in the boundary zone ``near``, so contrast does not matter."""
    grey = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY)
    dx, dy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    side = (2 * round(width) + 1,) * 2
    energy = cv2.blur(cv2.magnitude(dx, dy), side)
    busy = energy - cv2.magnitude(cv2.blur(dx, side), cv2.blur(dy, side))
    scale = float(np.quantile(energy[near], 0.9)) if near.any() else 0.0
    return np.clip(busy / max(scale, 1e-6), 0.0, 1.0)


def closed_form_alpha(image: np.ndarray, trimap: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """Closed-form matting (Levin et al.) solved only on the unknown band's bounding box (plus
    a margin); outside it, and where the band has no sure subject or no sure background to
    anchor the solve, the binary ``subject`` mask stands."""
    alpha = subject.astype(np.float32)
    unknown = (trimap > 0.25) & (trimap < 0.75)
    if not unknown.any():
        return alpha
    box = bounding_box(unknown, 8)
    local = trimap[box]
    has_windows = min(local.shape) >= 3  # the matting Laplacian is built from 3×3 windows
    if has_windows and (local > 0.75).any() and (local < 0.25).any():
        solved = _solve_closed_form(image[box].astype(np.float64), local > 0.75, unknown[box],
                                    subject[box])
        alpha[box] = np.clip(solved, 0.0, 1.0)
    return alpha


# (dy, dx) of the 9 pixels of a 3×3 window, row-major
_WINDOW = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
# where pixel l of a window lies in pixel k's 5×5 neighbourhood (row-major slot 0…24)
_SLOT = (_WINDOW[None, :, 0] - _WINDOW[:, None, 0] + 2) * 5 + _WINDOW[None, :, 1] - _WINDOW[:, None, 1] + 2
_UPPER = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # a symmetric 3×3's entries


def _solve_closed_form(image: np.ndarray, sure: np.ndarray, unknown: np.ndarray,
                       prior: np.ndarray, epsilon: float = 1e-7, chunk: int = 32768) -> np.ndarray:
    """Alpha of the ``unknown`` pixels from L_U·α_U = −R·α_K, with L the matting Laplacian
    (3×3 windows, regularisation ``epsilon``) and α_K 1 on ``sure`` subject, 0 elsewhere.

    Only the unknown pixels' rows of L are built (each couples a pixel with its 5×5
    neighbourhood), from the windows that hold an unknown pixel, ``chunk`` windows at a time.
    The symmetric system is solved exactly by a sparse LU factorisation (scipy/SuperLU) with
    the unknowns numbered by :func:`dissection_order`.
    """
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    height, width = unknown.shape
    unknown_y, unknown_x = np.nonzero(unknown)
    order = dissection_order(unknown_y, unknown_x)
    unknown_y, unknown_x = unknown_y[order], unknown_x[order]
    count = len(order)
    row_of = np.full(height * width, -1, np.int64)  # pixel index -> row of the system, or -1
    row_of[unknown_y * width + unknown_x] = np.arange(count)
    centres = np.zeros_like(unknown)  # windows (centred on inner pixels) holding an unknown pixel
    for dy, dx in _WINDOW:
        centres[1:-1, 1:-1] |= unknown[1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx]
    centre_y, centre_x = np.nonzero(centres)
    colours = image.reshape(-1, 3)
    values = np.zeros((count + 1) * 25)
    for start in range(0, len(centre_y), chunk):
        pixels = ((centre_y[start:start + chunk, None] + _WINDOW[:, 0]) * width
                  + centre_x[start:start + chunk, None] + _WINDOW[:, 1])
        window = colours[pixels]
        window -= window.mean(axis=1, keepdims=True)
        covariance = np.einsum("wki,wkj->wij", window, window) / 9.0 + np.eye(3) * (epsilon / 9.0)
        inverse = _inverse_symmetric(*(covariance[:, j, k] for j, k in _UPPER))
        entries = np.matmul(np.matmul(window, inverse), window.transpose(0, 2, 1))  # affinity
        entries += 1.0
        entries /= -9.0
        entries += np.eye(9)  # δ − (1 + affinity) / 9
        # rows of known pixels go to a spare last row, dropped after the loop
        rows = np.where(row_of[pixels] >= 0, row_of[pixels], count)
        values += np.bincount((rows[:, :, None] * 25 + _SLOT).ravel(), entries.ravel(),
                              minlength=(count + 1) * 25)
    values = values[:count * 25].reshape(count, 25)
    # a vanishing pull towards the subject mask keeps a band that touches no sure pixel solvable
    anchor = 1e-10
    values[:, 12] += anchor  # slot 12 of the 5×5 neighbourhood: the pixel itself
    slot_y, slot_x = np.divmod(np.arange(25), 5)
    near_y, near_x = unknown_y[:, None] + slot_y - 2, unknown_x[:, None] + slot_x - 2
    inside = (near_y >= 0) & (near_y < height) & (near_x >= 0) & (near_x < width) & (values != 0)
    neighbour = np.where(inside, near_y * width + near_x, 0)
    column = row_of[neighbour]
    coupled = inside & (column >= 0)
    # L is symmetric: row i's couplings are column i's, so the rows give the columns directly
    starts = np.concatenate([[0], np.cumsum(coupled.sum(axis=1))])
    system = csc_matrix((values[coupled], column[coupled], starts), shape=(count, count))
    known_subject = inside & (column < 0) & sure.ravel()[neighbour]
    right = anchor * prior[unknown_y, unknown_x] - (values * known_subject).sum(axis=1)
    solver = splu(system, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                  options={"SymmetricMode": True})
    alpha = sure.astype(np.float64)
    alpha[unknown_y, unknown_x] = solver.solve(right)
    return alpha


def _inverse_symmetric(s00, s01, s02, s11, s12, s22) -> np.ndarray:
    """Inverses (N×3×3) of N symmetric positive definite 3×3 matrices given by their upper
    triangles' entries (each N): the adjugate over the determinant."""
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    adjugate = np.stack([c00, c01, c02, c01, c11, c12, c02, c12, c22], -1).reshape(-1, 3, 3)
    return adjugate / (s00 * c00 + s01 * c01 + s02 * c02)[:, None, None]


def dissection_order(ys: np.ndarray, xs: np.ndarray, leaf: int = 64,
                     balance: float = 0.3) -> np.ndarray:
    """An elimination order for the pixels (``ys``, ``xs``) of a system that couples pixels
    up to 2 apart (the matting Laplacian's 5×5 neighbourhoods): nested dissection by straight
    cuts.  Two adjacent rows (or columns) of pixels separate those above from those below;
    numbered last, they keep the factorisation of each side from filling in the other.  Each
    cut is the smallest that leaves at least ``balance`` of the pixels on either side; sides
    are cut again down to ``leaf`` pixels.  A wide band around a subject factorises with about
    an eighth less fill-in, and a third less time, than with SuperLU's minimum-degree orderings
    (leaf 32 to 64 and balance 0.3 measured best; larger leaves fill in more)."""
    order = []

    def dissect(index: np.ndarray) -> None:
        best = None
        if len(index) > leaf:
            for coordinate in (ys[index], xs[index]):
                low = coordinate.min()
                counts = np.bincount(coordinate - low)
                if len(counts) < 4:
                    continue
                before = np.cumsum(counts) - counts  # pixels before each line
                # cut at lines (i, i + 1): pixels before line i, and after line i + 1
                below, above = before[:-1], len(index) - before[1:] - counts[1:]
                sizes = np.where(np.minimum(below, above) >= balance * len(index),
                                 counts[:-1] + counts[1:], len(index))
                cut = int(np.argmin(sizes))
                if sizes[cut] < len(index) and (best is None or sizes[cut] < best[0]):
                    best = (sizes[cut], coordinate, low + cut)
        if best is None:
            order.append(index)
            return
        _, coordinate, line = best
        dissect(index[coordinate < line])
        dissect(index[coordinate > line + 1])
        order.append(index[(coordinate == line) | (coordinate == line + 1)])

    dissect(np.arange(len(ys)))
    return np.concatenate(order) if order else np.arange(0)


def guided_upsample(image: np.ndarray, low_image: np.ndarray, low_alpha: np.ndarray,
                    radius: int = 4, eps: float = 1e-4) -> np.ndarray:
    """Fast guided filter: fit ``alpha ≈ a·I + b`` locally at low resolution, then apply the
    upsampled coefficients to the full-resolution picture ``image``."""
    height, width = image.shape[:2]
    if low_alpha.shape == (height, width):
        return low_alpha.astype(np.float32)
    coeffs = _guided_coefficients(low_image.astype(np.float32), low_alpha.astype(np.float32), radius, eps)
    alpha = cv2.resize(coeffs[..., 3], (width, height), interpolation=cv2.INTER_LINEAR)
    for channel in range(3):
        alpha += cv2.resize(coeffs[..., channel], (width, height), interpolation=cv2.INTER_LINEAR) * image[..., channel]
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def _guided_coefficients(guide: np.ndarray, target: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Per-pixel (a_r, a_g, a_b, b) of the colour guided filter (He et al.), box-averaged.

    ``a`` is zero wherever ``target`` is constant over the window (most of a matte), so the
    3×3 systems are solved (by their adjugate) only where it varies."""
    side = (2 * radius + 1, 2 * radius + 1)

    def mean(x):
        return cv2.boxFilter(x, -1, side, borderType=cv2.BORDER_REFLECT)

    mean_p = mean(target)
    coefficients = np.zeros(target.shape + (4,), np.float32)
    kernel = np.ones(side, np.uint8)
    varies = cv2.dilate(target, kernel) > cv2.erode(target, kernel)
    b = mean_p
    if varies.any():
        # the colour statistics are needed only where ``a`` is not zero and one window around:
        # on the bounding box of ``varies`` grown by two windows' reach
        box = bounding_box(varies, 2 * radius)
        guide, target, varies = guide[box], target[box], varies[box]
        mean_i = mean(guide)

        def at(x):
            return x[varies].astype(np.float64)

        centre = at(mean_i)
        cov = at(mean(guide * target[..., None])) - centre * at(mean_p[box])[:, None]
        products = at(mean(np.stack([guide[..., j] * guide[..., k] for j, k in _UPPER], -1)))
        s00, s01, s02, s11, s12, s22 = (products[:, n] - centre[:, j] * centre[:, k] + eps * (j == k)
                                        for n, (j, k) in enumerate(_UPPER))
        a = np.zeros_like(guide)
        a[varies] = np.einsum("nij,nj->ni", _inverse_symmetric(s00, s01, s02, s11, s12, s22), cov)
        b = mean_p.copy()
        b[box] -= (a * mean_i).sum(-1)
        coefficients[box + (slice(0, 3),)] = mean(a)
    coefficients[..., 3] = mean(b)
    return coefficients


def bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Slices of the bounding box of ``mask``'s true pixels grown by ``margin`` (within the
    picture); ``mask`` must hold at least one."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, mask.shape[0])),
            slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, mask.shape[1])))


def refine_alpha(image: np.ndarray, probability: np.ndarray, support: np.ndarray | None = None,
                 seed: int = 0, matting_side: int = MATTING_SIDE, work_side: int = WORK_SIDE,
                 checkpoint=lambda stage: None, keep: np.ndarray | None = None,
                 remove: np.ndarray | None = None, completion: bool = False,
                 iterations: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coarse ``probability`` (any size) → alpha at ``image``'s full size.

    Returns ``(alpha, matting_image, matting_alpha)``; the last two (at the matting resolution)
    let callers estimate foreground colours cheaply.  ``checkpoint(stage)`` is called between
    stages with the name of the stage just finished (engines raise there to cancel).
    ``keep`` / ``remove`` (boolean, ``image``'s size) are corrections: hard labels for the
    graph cut, pinned in the trimap and in the returned alpha (1 / 0).
    """
    size = image.shape[:2]
    work_size = scale_to_fit(size, work_side)
    work_image = resize(image, work_size)
    subject = segment(work_image, probability, support, seed=seed, keep=shrink(keep, work_size),
                      remove=shrink(remove, work_size), completion=completion,
                      iterations=iterations)
    checkpoint("graph cut")
    matting_size = scale_to_fit(size, matting_side, MATTING_MIN_SIDE)
    matting_image = resize(image, matting_size)
    subject = cv2.resize(subject.astype(np.uint8), matting_size[::-1], interpolation=cv2.INTER_NEAREST) > 0
    coarse = cv2.resize(probability, matting_size[::-1], interpolation=cv2.INTER_LINEAR)
    uncertainty = 1.0 - np.abs(2.0 * coarse - 1.0)
    trimap = trimap_from_segmentation(subject, uncertainty, matting_image)
    keep_here, remove_here = shrink(keep, matting_size), shrink(remove, matting_size)
    pin(trimap, keep_here, remove_here)
    pin(subject, keep_here, remove_here)
    checkpoint("trimap")
    matting_alpha = closed_form_alpha(matting_image, trimap, subject)
    checkpoint("matting")
    alpha = guided_upsample(image, matting_image, matting_alpha)
    return pin(alpha, keep, remove), matting_image, matting_alpha


def preview_alpha(image: np.ndarray, probability: np.ndarray, support: np.ndarray | None = None,
                  seed: int = 0, work_side: int = 320, keep: np.ndarray | None = None,
                  remove: np.ndarray | None = None, completion: bool = False,
                  iterations: int = 5) -> np.ndarray:
    """A quick alpha at ``image``'s size for live feedback: the graph cut at ``work_side``,
    its edges softened by a guided filter on the picture instead of matting, then resized.
    Corrections are pinned as in :func:`refine_alpha`."""
    size = image.shape[:2]
    work_size = scale_to_fit(size, work_side)
    work_image = resize(image, work_size)
    subject = segment(work_image, probability, support, seed=seed, keep=shrink(keep, work_size),
                      remove=shrink(remove, work_size), completion=completion,
                      iterations=iterations)
    coeffs = _guided_coefficients(work_image, subject.astype(np.float32), radius=2, eps=1e-3)
    soft = coeffs[..., 3] + (coeffs[..., :3] * work_image).sum(-1)
    alpha = cv2.resize(soft, size[::-1], interpolation=cv2.INTER_LINEAR)
    return np.clip(pin(alpha, keep, remove), 0.0, 1.0, out=alpha)


def pin(array: np.ndarray, keep: np.ndarray | None, remove: np.ndarray | None) -> np.ndarray:
    """Set correction strokes in place: 1 (True) under ``keep``, 0 (False) under ``remove``."""
    for painted, value in ((keep, 1), (remove, 0)):
        if painted is not None:
            array[painted] = value
    return array


def shrink(mask: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
    """A boolean stroke mask at another (height, width): pixels at least half covered, or, for a
    stroke thinner than a pixel there, every pixel it touches."""
    if mask is None or mask.shape == tuple(size):
        return mask
    covered = cv2.resize(mask.astype(np.float32), size[::-1], interpolation=cv2.INTER_AREA)
    painted = covered >= 0.5
    return painted if painted.any() else covered > 0


def estimate_foreground(image: np.ndarray, matting_image: np.ndarray, matting_alpha: np.ndarray) -> np.ndarray:
    """Un-premultiplied subject colour at ``image``'s size: multilevel foreground estimation
    at the matting resolution, plus the full-resolution picture's fine detail."""
    low, _ = multilevel_foreground(matting_image.astype(np.float32), matting_alpha.astype(np.float32),
                                   **FOREGROUND_ML)
    if matting_image.shape == image.shape:
        return np.clip(low, 0.0, 1.0)
    height, width = image.shape[:2]
    # foreground = picture + upsampled (estimate − picture): the picture's fine detail plus the
    # estimate's correction, which is zero wherever alpha is 1; built in place to keep the
    # number of full-resolution buffers small on very large targets
    low -= matting_image
    foreground = cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)
    foreground += image
    return np.clip(foreground, 0.0, 1.0, out=foreground)


def multilevel_foreground(image: np.ndarray, alpha: np.ndarray, regularization: float = 1e-5,
                          gradient_weight: float = 1.0, small_size: int = 32, small_iterations: int = 10,
                          big_iterations: int = 2, margin: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Fast multi-level foreground estimation (Germer et al. 2020, pymatting's defaults),
    vectorised: each sweep updates the two colours of a checkerboard in turn (red-black
    Gauss-Seidel) instead of pixel by pixel, so it needs no compiled loops.  Returns the
    foreground and background colours (float32, H×W×3, in [0, 1]; views of one array).

    On each level only the soft pixels (0 < alpha < 1) and ``margin`` pixels around them are
    iterated: elsewhere alpha is 0 or 1, the visible colour is the pixel's own (what the sweeps
    give there in one step) and the hidden one keeps the coarser level's estimate.  On a
    matte whose soft band covers a tenth of the picture this is about 4× faster."""
    height, width = alpha.shape
    # the mean colours of the sure subject and background start the coarsest level; both
    # colours of a pixel lie side by side (subject's, then background's): one gather each
    means = [cv2.mean(image, mask=sure.astype(np.uint8))[:3] for sure in (alpha > 0.9, alpha < 0.1)]
    colour = np.array(means, np.float32).reshape(1, 1, 6)
    levels = max(1, int(np.ceil(np.log2(max(height, width)))))
    window = np.ones((2 * margin + 1,) * 2, np.uint8)
    for level in range(levels + 1):
        h, w = round(height ** (level / levels)), round(width ** (level / levels))
        picture, a = _nearest(image, h, w).reshape(-1, 3), _nearest(alpha, h, w)
        colour = _nearest(colour, h, w).reshape(-1, 6)
        flat = a.ravel()
        np.copyto(colour[:, :3], picture, where=(flat >= 1.0)[:, None])
        np.copyto(colour[:, 3:], picture, where=(flat <= 0.0)[:, None])
        active = cv2.dilate(((a > 0.0) & (a < 1.0)).astype(np.uint8), window)
        ys, xs = np.nonzero(active)
        # red-black order: the pixels with even y + x, then the others; each sweep over one
        # colour reads only the other's (or fixed) pixels, so it is one vectorised step
        colours = []
        for parity in (0, 1):
            y, x = ys[(ys + xs) % 2 == parity], xs[(ys + xs) % 2 == parity]
            index = y * w + x
            # the four neighbours, the edge repeated beyond the border (as the method does)
            around = [np.maximum(y - 1, 0) * w + x, np.minimum(y + 1, h - 1) * w + x,
                      y * w + np.maximum(x - 1, 0), y * w + np.minimum(x + 1, w - 1)]
            own = flat[index][:, None]
            weights = [regularization + gradient_weight * np.abs(own - flat[near][:, None])
                       for near in around]
            total = sum(weights)
            a00, a11, a01 = own * own + total, (1.0 - own) ** 2 + total, own * (1.0 - own)
            determinant = a00 * a11 - a01 * a01
            seen = picture[index]
            # the 2×2 system per pixel, inverted once per level
            colours.append((index, around, weights,
                            np.concatenate([own * seen, (1.0 - own) * seen], 1),
                            a11 / determinant, -a01 / determinant, a00 / determinant))
        for _ in range(small_iterations if max(h, w) <= small_size else big_iterations):
            for index, around, weights, from_seen, f_from_f, cross, b_from_b in colours:
                pull = from_seen + sum(weight * colour.take(near, 0)
                                       for weight, near in zip(weights, around))
                pull_f, pull_b = pull[:, :3], pull[:, 3:]
                updated = np.concatenate([f_from_f * pull_f + cross * pull_b,
                                          cross * pull_f + b_from_b * pull_b], 1)
                colour[index] = np.clip(updated, 0, 1)
        colour = colour.reshape(h, w, 6)
    return colour[..., :3], colour[..., 3:]


def _nearest(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize with the multilevel method's index rule (the picture itself
    at its own size)."""
    if (height, width) == picture.shape[:2]:
        return picture
    rows = np.minimum(np.arange(height) * picture.shape[0] // height, picture.shape[0] - 1)
    cols = np.minimum(np.arange(width) * picture.shape[1] // width, picture.shape[1] - 1)
    return picture.take(rows, 0).take(cols, 1)
