"""Corrections painted on a target (keep / remove strokes) on its token grid.

A stroke speaks for the cells it covers and for the tokens of the same target that look more
like it than like the other class (the intra-similarity idea), but only as far as the target's
own look ties them to it (:func:`reach`): what it covers, the region of its look-alikes that
joins it without a change of look (:func:`joined`: a whole pot from a stroke at its foot), and
little beyond.  In look-alike clutter (foliage on foliage, a cat's paws on a wooden
deck) a stroke that re-classified every look-alike of the picture flipped whole regions far
from it, and the next stroke flipped them back.
:func:`corrected_maps` gives the coarse maps with the corrections, kept within the strokes'
reach; the refinement pins the strokes' pixels and, within the keep and the remove strokes'
reach (:class:`StrokeCorrections`), lets keep strokes only add and remove strokes only take away.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from .incontext import (CoarseMaps, Corrections, Evidence, ReferenceTokens, TargetTokens, agreed,
                        coarse_probability, coverage, nearest_vote)

HINT_NEIGHBOURS = 3  # a stroke covers few cells: compare with its closest ones, not 20
HINT_COVERAGE = 0.25  # fraction of a cell a correction stroke must cover to speak for it
# A stroke's reach (:func:`reach`): its say falls by a factor e every REACH_CELLS cells of
# unchanging look; a step between neighbouring cells of cosine dissimilarity u costs
# exp(u / REACH_EDGE) times as much, so a change of look holds the stroke back (cells of one
# region differ by about 0.1-0.2, across an edge by 0.35-0.5).
REACH_CELLS = 8.0
REACH_EDGE = 0.15
# A stroke's look-alikes (its vote > 0.5) joined to it by steps of cosine dissimilarity under
# JOIN_UNLIKE (:func:`joined`) are reached as if painted: one region of one look, however large
# (below the 0.35-0.5 of an edge; 0.25 of 0.2 / 0.25 / 0.3 by leave-one-group-out over both
# sets' groups, benchmarks/corrections.py; at 0.3 the cat's paw joins the deck)
JOIN_UNLIKE = 0.25


@dataclass(frozen=True)
class StrokeCorrections(Corrections):
    """:class:`~icm_core.lite.incontext.Corrections` with how far the keep strokes and the
    remove strokes each reach, in [0, 1] per token: from the cells they paint and the
    look-alikes joined to those (:func:`joined`), and every cell their pixels touch, if only
    that cell (a dab too small to speak for a cell, on a strand of hair or a gap between
    leaves, still decides the cells it lies in).  ``reach`` is the painted and joined cells'."""

    keep_reach: np.ndarray
    remove_reach: np.ndarray


def correct(target: TargetTokens, votes: Evidence, reference: ReferenceTokens,
            keep: np.ndarray | None, remove: np.ndarray | None,
            brushed: bool = True) -> StrokeCorrections:
    """Corrections from keep / remove pixel masks (boolean, the target's size, or None).  Hints
    not ``brushed`` (a whole reading, :attr:`~icm_core.api.Hints.brushed`) reach no look-alike
    region joined to them (:func:`joined`), and keep and remove reach alike."""
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
    keep_reach, remove_reach = (
        reach(target, (cells | joined(target, cells, alike)) if brushed else cells)
        for cells, alike in ((keep_cells, kept), (remove_cells, removed)))
    either = np.maximum(keep_reach, remove_reach)
    if not brushed:  # a whole reading: its keep and remove hints decide together
        return StrokeCorrections(keep_cells, remove_cells, kept, removed, either, either, either)
    # every cell a stroke's pixels touch is reached too (a dab too small to speak for a cell)
    keep_reach, remove_reach = (
        reached if pixels is None
        else np.maximum(reached, coverage(pixels, target.grid).ravel() > 0)
        for reached, pixels in ((keep_reach, keep), (remove_reach, remove)))
    return StrokeCorrections(keep_cells, remove_cells, kept, removed, either, keep_reach,
                             remove_reach)


def joined(target: TargetTokens, painted: np.ndarray, alike: np.ndarray) -> np.ndarray:
    """The cells the target's look ties to the ``painted`` ones as one region of the stroke's
    kind: those its look-alike vote ``alike`` claims (> 0.5) that join a painted cell through
    neighbouring claimed cells, each step of cosine dissimilarity under JOIN_UNLIKE (no change
    of look).  A pot painted at its foot is one region up to its rim; a paw beside a deck of
    wood that looks like it is not joined to the deck (an edge lies between them)."""
    if not painted.any() or JOIN_UNLIKE <= 0:
        return painted
    here, there, _ = _steps(target.grid)
    claimed = painted | (alike > 0.5)
    linked = claimed[here] & claimed[there] & (_unlike(target.tokens, here, there) < JOIN_UNLIKE)
    graph = coo_matrix((np.ones(int(linked.sum())), (here[linked], there[linked])),
                       shape=(len(painted),) * 2)
    _, region = connected_components(graph, directed=False)
    return np.isin(region, region[painted]) & claimed


def _steps(grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8-connected token grid's steps: (cell, neighbour, length) arrays."""
    height, width = grid
    cells = np.arange(height * width).reshape(height, width)
    pairs = [(cells[:, :-1], cells[:, 1:], 1.0), (cells[:-1], cells[1:], 1.0),
             (cells[:-1, :-1], cells[1:, 1:], 2**0.5), (cells[:-1, 1:], cells[1:, :-1], 2**0.5)]
    here = np.concatenate([a.ravel() for a, _, _ in pairs])
    there = np.concatenate([b.ravel() for _, b, _ in pairs])
    length = np.concatenate([np.full(a.size, step) for a, _, step in pairs])
    return here, there, length


def _unlike(tokens: np.ndarray, here: np.ndarray, there: np.ndarray) -> np.ndarray:
    """Cosine dissimilarity of the (unit) tokens of each step, in [0, 2]."""
    return np.clip(1.0 - (tokens[here] * tokens[there]).sum(1), 0.0, 2.0)


def reach(target: TargetTokens, painted: np.ndarray) -> np.ndarray:
    """How far the target's own look ties each token to the ``painted`` cells, in [0, 1]:
    exp(−d), d the shortest path from a painted cell over the 8-connected token grid where a
    step costs its length over REACH_CELLS times exp(the two cells' cosine dissimilarity over
    REACH_EDGE).  A region of one look joined to the stroke is reached far, a change of look (a
    paw's edge on a deck) holds it back, and a look-alike elsewhere in the picture, however
    alike, is not reached: what ties it to the stroke is a path through the picture."""
    if not painted.any():
        return np.zeros(len(painted), np.float32)
    here, there, length = _steps(target.grid)
    cost = length / REACH_CELLS * np.exp(_unlike(target.tokens, here, there) / REACH_EDGE)
    graph = coo_matrix((cost, (here, there)), shape=(len(painted),) * 2).tocsr()
    distance = dijkstra(graph, directed=False, indices=np.flatnonzero(painted), min_only=True)
    return np.exp(-distance).astype(np.float32)


def corrected_maps(target: TargetTokens, votes: Evidence, fix: Corrections | None,
                   salient: np.ndarray | None = None, objectness: float = 0.0) -> CoarseMaps:
    """:func:`~icm_core.lite.incontext.coarse_probability` with ``fix`` where the strokes reach
    and without it where they do not, blended by the reach: a stroke changes nothing beyond it
    (the strokes' pixels are pinned by the refinement wherever they are)."""
    plain = coarse_probability(target, votes, None, salient, objectness)
    if fix is None:
        return plain
    corrected = coarse_probability(target, votes, fix, salient, objectness)
    weight = fix.reach.reshape(target.grid)
    return CoarseMaps(plain.probability + weight * (corrected.probability - plain.probability),
                      plain.cross + weight * (corrected.cross - plain.cross))


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
