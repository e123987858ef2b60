"""Corrections painted on a target (keep / remove strokes) on its token grid.

A stroke speaks for the cells it covers, and for every token of the same target that looks
more like it than like the other class (the intra-similarity idea): one stroke on one of two
look-alike bystanders removes both.  :func:`icm_core.lite.incontext.coarse_probability` uses
the result; the refinement pins the strokes' pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from .incontext import (Corrections, Evidence, ReferenceTokens, TargetTokens, agreed, coverage,
                        nearest_vote)

HINT_NEIGHBOURS = 3  # a stroke covers few cells: compare with its closest ones, not 20
HINT_COVERAGE = 0.25  # fraction of a cell a correction stroke must cover to speak for it


def correct(target: TargetTokens, votes: Evidence, reference: ReferenceTokens,
            keep: np.ndarray | None, remove: np.ndarray | None) -> Corrections:
    """Corrections from keep / remove pixel masks (boolean, the target's size, or None)."""
    tokens = target.tokens
    fix = Corrections.none(len(tokens))
    keep_cells = fix.keep if keep is None else hint_cells(keep, target.grid)
    remove_cells = fix.remove if remove is None else hint_cells(remove, target.grid)
    agreed_subject, agreed_background = agreed(votes)
    removed = kept = fix.kept
    if remove_cells.any():
        removed = _look_alikes(tokens, remove_cells, [reference.subject, tokens[keep_cells]],
                               agreed_subject)
    if keep_cells.any():
        kept = _look_alikes(tokens, keep_cells, [reference.background, tokens[remove_cells]],
                            agreed_background)
    return Corrections(keep_cells, remove_cells, kept, removed)


def _look_alikes(tokens: np.ndarray, painted: np.ndarray, others: list[np.ndarray],
                 same_class: np.ndarray) -> np.ndarray:
    """P(each token is like the painted cells rather than like the other class).  The other
    class is the reference's tokens, the opposite strokes, and the target's own tokens of
    that class that the stroke does not resemble (those less alike than the median): without
    them, whatever fills the target would look more like a stroke on it than like anything in
    the reference picture."""
    candidates = np.flatnonzero(same_class & ~painted)
    if len(candidates):
        likeness = (tokens[candidates] @ tokens[painted].T).max(axis=1)
        candidates = candidates[likeness < np.median(likeness)]
    bank = np.concatenate(others + [tokens[candidates]])
    return nearest_vote(tokens, tokens[painted], bank, HINT_NEIGHBOURS)


def hint_cells(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Token cells a correction stroke speaks for: covered enough, or a thin stroke's
    best-covered cells.  A dab smaller than one cell speaks for none (its cell holds more of
    something else): its pixels are still pinned.  Each stroke is judged on its own, so two
    dabs in one small gap do not add up to a cell that speaks."""
    cell_area = mask.size / (grid[0] * grid[1])
    count, strokes, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                                connectivity=8)
    speaks = np.zeros(count, bool)
    speaks[1:] = stats[1:, cv2.CC_STAT_AREA] >= cell_area
    covered = coverage(speaks[strokes], grid).ravel()
    if not covered.any():
        return np.zeros(covered.shape, bool)
    return covered >= min(HINT_COVERAGE, float(covered.max()))
