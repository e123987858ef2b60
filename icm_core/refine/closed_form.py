"""Closed-form matting (Levin et al.) on the trimap's unknown band: the matting Laplacian's
unknown rows, solved by scipy's sparse LU with a nested-dissection order (no JIT compilation)."""

from __future__ import annotations

import numpy as np

from .masks import bounding_box

# Shortest side of the matting picture: a long strip scaled to the matting side would be 1-2 px
# high, where closed-form matting has no 3×3 window and its solver divides by zero.
MATTING_MIN_SIDE = 16
#: the single-precision solve's refinement: at most this many steps, done once a step moves no
#: alpha by more than REFINED (each step divides the error by 7 to 100 on icm58-dev and
#: alphamatting; two or three steps are the rule)
REFINEMENT_STEPS = 8
REFINED = 1e-4



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
_SLOT = ((_WINDOW[None, :, 0] - _WINDOW[:, None, 0] + 2) * 5
         + _WINDOW[None, :, 1] - _WINDOW[:, None, 1] + 2)
UPPER_TRIANGLE = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # a symmetric 3×3's entries


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
        window = colours.take(pixels, axis=0)  # (take: far faster than fancy indexing)
        window -= window.mean(axis=1, keepdims=True)
        covariance = np.einsum("wki,wkj->wij", window, window) / 9.0 + np.eye(3) * (epsilon / 9.0)
        inverse = inverse_symmetric(*(covariance[:, j, k] for j, k in UPPER_TRIANGLE))
        entries = np.matmul(np.matmul(window, inverse),
                            np.ascontiguousarray(window.transpose(0, 2, 1)))  # affinity
        entries += 1.0
        entries /= -9.0
        entries += np.eye(9)  # δ − (1 + affinity) / 9
        # rows of known pixels go to a spare last row, dropped after the loop
        rows = row_of.take(pixels)
        rows[rows < 0] = count
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
    column = row_of.take(neighbour)
    coupled = inside & (column >= 0)
    # L is symmetric: row i's couplings are column i's, so the rows give the columns directly
    starts = np.concatenate([[0], np.cumsum(coupled.sum(axis=1))])
    system = csc_matrix((values[coupled], column[coupled], starts), shape=(count, count))
    known_subject = inside & (column < 0) & sure.ravel()[neighbour]
    right = anchor * prior[unknown_y, unknown_x] - (values * known_subject).sum(axis=1)
    alpha = sure.astype(np.float64)
    alpha[unknown_y, unknown_x] = _solve_refined(system, right)
    return alpha


def _solve_refined(system, right: np.ndarray) -> np.ndarray:
    """The solution of ``system`` (sparse, symmetric, ordered for its LU without pivoting) for
    ``right``: factorised in single precision, a fifth faster than in double, then polished by
    iterative refinement (residuals in double precision) until a step moves no alpha by more
    than REFINED; a system too ill-conditioned for that is factorised in double precision."""
    from scipy.sparse.linalg import splu

    options = {"permc_spec": "NATURAL", "diag_pivot_thresh": 0.0,
               "options": {"SymmetricMode": True}}
    try:
        single = splu(system.astype(np.float32), **options)
    except RuntimeError:  # exactly singular in single precision
        single = None
    if single is not None:
        solution = single.solve(right.astype(np.float32)).astype(np.float64)
        for _ in range(REFINEMENT_STEPS):
            step = single.solve((right - system @ solution).astype(np.float32))
            solution += step
            if np.abs(step).max() <= REFINED:  # False for NaN: falls back
                return solution
    return splu(system, **options).solve(right)


def inverse_symmetric(s00, s01, s02, s11, s12, s22) -> np.ndarray:
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
    are cut again down to ``leaf`` pixels.  A wide band around a subject factorises with less
    fill-in, and in less time, than with SuperLU's minimum-degree orderings."""
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
