"""In-context similarity on feature tokens: from a reference's masked tokens to a coarse
foreground probability over the target's token grid.

Three signals, as in In-Context Matting but training-free:
* *nearest neighbours* — is a target token closer to the reference's subject tokens or to its
  background tokens?  (good recall, but fooled by backgrounds the reference never showed);
* *inter-similarity* — every reference subject token spreads a softmax over the target's
  positions and the sums form a cross map (precise location, low recall);
* *intra-similarity* — the target's own token affinity spreads evidence inside the target, and
  target tokens that both signals agree on become prototypes for re-classifying the target by
  its own appearance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Cosine similarities live in [-1, 1]; this temperature makes votes and softmaxes decisive
# (chosen on icm58-dev and the alphamatting pseudo-groups together: 0.05 and 0.1 were worse).
TEMPERATURE = 0.07
NEIGHBOURS = 20
FAR_CELLS = 16  # background cells far from the stroke needed to judge the unpainted rest by
LIKENESS = 0.6  # cosine similarity to the stroke's core below which a cell is never its subject
EDGE_DEPTH = 2  # cells: a stroke's edge, where a generous brush also paints background
MAX_TOKENS = 4096  # per class, per reference: bounds memory for many or huge references


@dataclass(frozen=True)
class ReferenceTokens:
    """Subject and background descriptors of one or more references (torch tensors N×C)."""

    subject: "object"
    background: "object"


def reference_tokens(descriptors, mask: np.ndarray) -> ReferenceTokens:
    """Split a reference's (C, h, w) descriptors by the mask's coverage of each token cell.

    Cells fully inside the mask are subject, fully outside are background, except unpainted
    parts of the subject the stroke missed.  A thin or scribbled mask may cover no cell fully;
    then the best-covered cells stand in, and only unpainted cells unlike them count as
    background.
    """
    import torch
    import torch.nn.functional as F

    grid = descriptors.shape[-2:]
    binary = torch.from_numpy((mask > 0.5).astype(np.float32))[None, None]
    coverage = F.interpolate(binary, size=grid, mode="area").flatten()
    tokens = descriptors.flatten(1).T
    subject = coverage >= 0.99
    background = coverage <= 0.01
    if not subject.any():
        # A scribble: its best-covered cells stand for the subject, and the unpainted rest may
        # be subject too, so only the half least like the stroke counts as background.
        # (a mask smaller than half a cell covers no cell half: its best cells stand in)
        best = float(coverage.max())
        subject = coverage >= min(max(0.5, best * 0.75), best)
        likeness = (tokens @ tokens[subject].T).max(dim=1).values
        if background.any():
            background &= likeness <= likeness[background].median()
    elif background.any():
        background &= ~_unpainted_subject(tokens, coverage.reshape(grid), subject, background)
    if not background.any():
        worst = float(coverage.min())
        background = coverage <= max(min(0.5, worst * 1.25 + 0.05), worst)
    return ReferenceTokens(_subsample(tokens[subject]), _subsample(tokens[background]))


def _unpainted_subject(tokens, coverage, subject, background):
    """Unpainted cells that belong to the subject: a stroke over part of it must not teach
    that the rest is background.  Those are the unpainted cells joined to the stroke that look
    like its core (not its edge, where a generous brush also paints background) more than like
    the background far from it, and at least LIKENESS alike (the road under a car looks more
    like the car than like far-off trees, yet is not the car)."""
    import cv2
    import torch

    unpainted = (coverage <= 0.01).numpy().astype(np.uint8)
    outside = torch.from_numpy(cv2.distanceTransform(unpainted, cv2.DIST_L2, 3)).flatten()
    inside = torch.from_numpy(cv2.distanceTransform(1 - unpainted, cv2.DIST_L2, 3)).flatten()
    far = background & (outside >= float(subject.sum()) ** 0.5)
    if far.sum() < FAR_CELLS:  # the subject fills the frame: the farthest quarter stands in
        far = background & (outside >= outside[background].quantile(0.75))
    core = subject & (inside > EDGE_DEPTH)
    if core.sum() < FAR_CELLS:
        core = subject
    candidates = tokens[background]
    likeness = (candidates @ tokens[core].T).max(dim=1).values
    like_core = torch.zeros_like(background)
    like_core[background] = ((_nearest_vote(candidates, tokens[core], tokens[far]) > 0.5)
                             & (likeness >= LIKENESS))
    # only the parts joined to the stroke: a look-alike elsewhere is still background
    regions = (like_core | ~background).reshape(coverage.shape).numpy().astype(np.uint8)
    labels = torch.from_numpy(cv2.connectedComponents(regions, connectivity=4)[1]).flatten()
    return like_core & torch.isin(labels, labels[~background].unique())


def combine(parts: list[ReferenceTokens]) -> ReferenceTokens:
    import torch

    return ReferenceTokens(
        torch.cat([p.subject for p in parts]), torch.cat([p.background for p in parts])
    )


def _subsample(tokens):
    if len(tokens) <= MAX_TOKENS:
        return tokens.clone()
    step = len(tokens) / MAX_TOKENS
    return tokens[(np.arange(MAX_TOKENS) * step).astype(np.int64)].clone()


def _nearest_vote(tokens, positives, negatives):
    """P(positive) from the mean similarity to the k nearest positives vs negatives."""
    import torch

    def closeness(bank):
        return (tokens @ bank.T).topk(min(NEIGHBOURS, len(bank)), dim=1).values.mean(1)

    return torch.sigmoid((closeness(positives) - closeness(negatives)) / TEMPERATURE)


@dataclass
class CoarseMaps:
    """Maps on the target's token grid (h, w), float32 numpy."""

    probability: np.ndarray  # foreground probability after all three signals
    cross: np.ndarray  # inter-similarity map spread by intra-similarity, max 1


def coarse_probability(reference: ReferenceTokens, descriptors) -> CoarseMaps:
    """Foreground probability of each token of a target's (C, h, w) descriptors."""
    import torch

    height, width = descriptors.shape[-2:]
    tokens = descriptors.flatten(1).T
    with torch.inference_mode():
        neighbours = _nearest_vote(tokens, reference.subject, reference.background)
        affinity = torch.softmax(tokens @ tokens.T / TEMPERATURE, dim=1)
        cross = torch.softmax(reference.subject @ tokens.T / TEMPERATURE, dim=1).sum(0)
        cross = affinity @ (cross / cross.max())
        cross = cross / cross.max()

        # Prototypes from the target itself: where both signals agree.
        subject = (cross > 0.3) & (neighbours > 0.5)
        background = ((neighbours < 0.3) | ((cross < 0.02) & (neighbours < 0.6))) & ~subject
        if subject.sum() < 2:
            subject = cross >= cross.topk(min(3, len(cross))).values[-1]
        if background.sum() < 2:
            background = cross <= cross.topk(min(3, len(cross)), largest=False).values[-1]
        own = _nearest_vote(tokens, tokens[subject], tokens[background])
        probability = affinity @ (0.5 * own + 0.5 * neighbours * own)
    return CoarseMaps(
        probability.reshape(height, width).numpy().astype(np.float32),
        cross.reshape(height, width).numpy().astype(np.float32),
    )
