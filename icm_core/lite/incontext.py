"""In-context similarity on feature tokens: from a reference's masked tokens to a coarse
foreground probability over the target's token grid (numpy only).

Three signals, as in In-Context Matting but training-free:
* *nearest neighbours* — is a target token closer to the reference's subject tokens or to its
  background tokens?  (good recall, but fooled by backgrounds the reference never showed);
* *inter-similarity* — every reference subject token spreads a softmax over the target's
  positions and the sums form a cross map (precise location, low recall);
* *intra-similarity* — the target's own token affinity spreads evidence inside the target, and
  target tokens that both signals agree on become prototypes for re-classifying the target by
  its own appearance.

Corrections painted on a target (:mod:`icm_core.lite.corrections`) join those prototypes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Cosine similarities live in [-1, 1]; this temperature makes votes and softmaxes decisive
# (chosen on icm58-dev and the alphamatting pseudo-groups together: 0.05 and 0.1 were worse).
TEMPERATURE = 0.07
NEIGHBOURS = 20
FAR_CELLS = 16  # background cells far from the stroke needed to judge the unpainted rest by
# A stroke over part of the subject (:func:`_unpainted_subject`): the rest it missed is taught as
# subject where its cells are at least MISSED_LIKENESS alike to the stroke's core, in parts of at
# least JOIN_SHARE of the stroke's cells reaching deeper than EDGE_DEPTH from it (a look-alike
# fringe beside a stroke that covers the whole subject is smaller, ≤ 0.27 of it on icm58-dev
# and alphamatting against 0.46-1.7 for the missed halves, or a strip beside a thin subject);
# a part that rings more than HALO_SHARE of the stroke is the background's look near the subject
# (a plain backdrop round a disc, tests/hosts/test_gimp_bridge.py); cells at least
# UNSURE_LIKENESS alike are taught neither way.  Likeness 0.5 / 0.6 and share 0.15 / 0.3 / 0.6
# by leave-one-group-out over both sets with exact, half and rough masks together: 0.5 and 0.3
# for every left-out group (benchmarks/lite_quality.py --mask).
MISSED_LIKENESS = 0.5
JOIN_SHARE = 0.3
UNSURE_LIKENESS = 0.6
HALO_SHARE = 0.75
#: weight of the learned objectness prior's log-odds (:mod:`icm_core.lite.objectness`) beside
#: the in-context evidence's, for a reference whose subject is fully its picture's salient object
OBJECTNESS = 1.0
EDGE_DEPTH = 2  # cells: a stroke's edge, where a generous brush also paints background
# A mask's edge follows the picture's edges when the picture changes across it more than
# EDGE_CONTRAST times as much as just beside it (:func:`follows_edges`): on both sets filled and
# half masks measure 2.1-12.7, fat brushes 0.9-1.5 and scribbles 0.7-2.2.  Chosen by
# leave-one-group-out over both sets with exact, half, rough and scribbled masks (0, 1.25, 1.5,
# 2, 2.5): 1.25 for every left-out group (it keeps sign's rough mask, 1.47, on the tight path).
EDGE_CONTRAST = 1.25
EDGE_SIDE = 512  # long side at which a mask's edge is compared with the picture's
MAX_TOKENS = 4096  # per class and reference set: bounds time and memory for many references
# Several references vote each on its own terms: a reference's k nearest tokens per class are
# at most a quarter of the class (k above a small class's size measures its mean, not its
# neighbours), and its say on a target token grows with how close its nearest token of either
# class is (the reference that has seen such a token knows it best).  Chosen leave-one-group-out
# on the series of icm58-dev and the alphamatting pseudo-groups (share 2, 4, 8; nearest 1, 3).
CLASS_SHARE = 4
RELEVANCE_NEIGHBOURS = 1
# A frame a shot's memory learnt (icm_core.sequence) has less say than the user's references:
# its relevance on a target token counts as if its nearest token were MEMORY_MARGIN less alike.
# It saw the frame before, so its tokens are nearly always the closest, and without the margin
# a mistake it learnt outvotes the user's reference on every later frame.  On
# benchmarks/lite_sequence.py's photo sequences leave-one-sequence-out picks 0.3 over 0, 0.1,
# 0.2 (2 % lower MSE than 0.2), but at 0.3 the memory no longer follows a subject whose look
# changes wholly (its procedural shot): 0.2 is the largest margin that still does.
MEMORY_MARGIN = 0.2
#: a token cell is painted when a mask covers this much of it, unpainted when at most UNPAINTED
PAINTED, UNPAINTED = 0.99, 0.01


@dataclass(frozen=True)
class ReferenceTokens:
    """Subject and background descriptors of one or more references (float32 N×C); a
    combined set keeps its references' own sets in ``parts`` so each votes on its own terms."""

    subject: np.ndarray
    background: np.ndarray
    parts: tuple["ReferenceTokens", ...] = ()
    objectness: float = 0.0  # how far the subject is its picture's salient object, in [0, 1]
    instances: int = 0  # how many subjects the reference paints (0: unknown, keep every one)
    memory: bool = False  # a frame a shot's memory learnt, not a reference the user brushed


@dataclass(frozen=True)
class TargetTokens:
    """What a target's matte needs from its features whatever the reference or the hints:
    its descriptors (N×C) on a (h, w) grid and its own token affinity (row-softmax, N×N)."""

    tokens: np.ndarray
    grid: tuple[int, int]
    affinity: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.tokens.nbytes + self.affinity.nbytes


@dataclass(frozen=True)
class Evidence:
    """The reference's votes on a target's tokens (N each): kept to re-apply new hints fast."""

    neighbours: np.ndarray  # P(subject) by nearest reference tokens
    cross: np.ndarray  # inter-similarity cross map spread by intra-similarity, max 1


@dataclass
class CoarseMaps:
    """Maps on the target's token grid (h, w), float32."""

    probability: np.ndarray  # foreground probability after all three signals and the hints
    cross: np.ndarray  # in-context support: the spread cross map, raised where keep strokes vouch


@dataclass(frozen=True)
class Corrections:
    """Per target token: painted cells (boolean) and look-alike votes (P in [0, 1]); made by
    :func:`icm_core.lite.corrections.correct`, read by :func:`coarse_probability`."""

    keep: np.ndarray
    remove: np.ndarray
    kept: np.ndarray
    removed: np.ndarray
    reach: np.ndarray  # how far the strokes speak for each token, in [0, 1]

    @classmethod
    def none(cls, count: int) -> "Corrections":
        painted, votes = np.zeros(count, bool), np.zeros(count, np.float32)
        return cls(painted, painted, votes, votes, votes)


def coverage(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Fraction of each cell of a (h, w) token grid that a boolean pixel mask covers."""
    return cv2.resize(mask.astype(np.float32), grid[::-1], interpolation=cv2.INTER_AREA)


def reference_tokens(descriptors: np.ndarray, mask: np.ndarray,
                     salient: np.ndarray | None = None,
                     completed: np.ndarray | None = None, memory: bool = False,
                     tight: bool = True) -> ReferenceTokens:
    """Split a reference's (C, h, w) descriptors by the mask's coverage of each token cell.

    Cells fully inside the mask are subject, fully outside are background, except unpainted
    parts of the subject the stroke missed (subject) or may have missed (neither).  A thin or
    scribbled mask may cover no cell fully; then the best-covered cells stand in, and only
    unpainted cells unlike them count as background.  With ``completed`` (the mask completed
    from the picture's own evidence), what either reading takes as subject is subject; where
    the completion reaches beyond the mask's edge (:func:`_reaches_beyond_edge`) only what
    both take as background is background, otherwise (it fills out a filled mask's edge) the
    mask's own background stays, less what the completion adds.  A mask that is not ``tight``
    (its edge does not follow the picture's, :func:`follows_edges`: a fat brush round the
    subject) teaches alone unless its completion reaches beyond its edge: the brush already
    covers the subject with a margin, so what the completion adds just beyond it is the
    background the brush's edge lies in.  A ``memory`` frame's mask is a
    matte's sure reading, not a brush: its cells are taught exactly as covered, nothing guessed
    beyond.
    """
    tokens = descriptors.reshape(len(descriptors), -1).T
    if memory:
        cells = coverage(mask > 0.5, descriptors.shape[1:]).ravel()
        subject, background = cells >= PAINTED, cells <= UNPAINTED
        return ReferenceTokens(_subsample(tokens[subject]), _subsample(tokens[background]),
                               objectness=_objectness(salient, subject, background), memory=True)
    subject, background = _classes(descriptors, mask)
    if completed is not None:
        more_subject, more_background = _classes(descriptors, completed)
        deep = _reaches_beyond_edge(completed, mask, descriptors.shape[1:])
        if deep or tight:
            subject |= more_subject
            if deep:
                background &= more_background
            background &= ~subject
            if not background.any():
                background = more_background & ~subject
    return ReferenceTokens(_subsample(tokens[subject]), _subsample(tokens[background]),
                           objectness=_objectness(salient, subject, background))


def _classes(descriptors: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(subject, background) cells of :func:`reference_tokens` for one mask."""
    grid = descriptors.shape[1:]
    covered = coverage(mask > 0.5, grid)
    cells = covered.ravel()
    tokens = descriptors.reshape(len(descriptors), -1).T
    subject = cells >= PAINTED
    background = cells <= UNPAINTED
    if not subject.any():
        # A scribble: its best-covered cells stand for the subject, and the unpainted rest may
        # be subject too, so only the half least like the stroke counts as background.
        # (a mask smaller than half a cell covers no cell half: its best cells stand in)
        best = float(cells.max())
        subject = cells >= min(max(0.5, best * 0.75), best)
        likeness = (tokens @ tokens[subject].T).max(axis=1)
        if background.any():
            background &= likeness <= np.median(likeness[background])
    elif background.any():
        missed, unsure = _unpainted_subject(tokens, covered, subject, background)
        background &= ~(missed | unsure)
        subject |= missed
    if not background.any():
        worst = float(cells.min())
        background = cells <= max(min(0.5, worst * 1.25 + 0.05), worst)
    return subject, background


def _reaches_beyond_edge(completed: np.ndarray, mask: np.ndarray, grid: tuple[int, int]) -> bool:
    """Whether the ``completed`` mask covers cells deeper than EDGE_DEPTH beyond the cells the
    ``mask`` paints: the rest of a half-painted or scribbled subject, which the completion's
    own reading knows better than the mask's."""
    outside = cv2.distanceTransform((coverage(mask > 0.5, grid) <= UNPAINTED).astype(np.uint8),
                                    cv2.DIST_L2, 3)
    return bool((outside[coverage(completed > 0.5, grid) >= 0.5] > EDGE_DEPTH).any())


def follows_edges(image: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the ``mask``'s edge lies on the H×W×3 ``image``'s edges (a filled mask drawn
    round the subject's outline, or a stroke's side along one) rather than across plain or
    textured background (a fat brush's margin round the subject): the picture's change across
    the edge, on average, is more than EDGE_CONTRAST times its change across the same direction
    3-8 px to either side (an edge through a flat picture does not follow it)."""
    height, width = mask.shape
    scale = min(1.0, EDGE_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    painted = (cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
               > 0.5).astype(np.uint8)
    if not painted.any() or painted.all():
        return True
    pixels = cv2.resize(image.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    soft = cv2.GaussianBlur(painted.astype(np.float32), (0, 0), 2)
    normal_x, normal_y = cv2.Sobel(soft, cv2.CV_32F, 1, 0), cv2.Sobel(soft, cv2.CV_32F, 0, 1)
    length = np.sqrt(normal_x ** 2 + normal_y ** 2) + 1e-6
    change = (cv2.Sobel(pixels, cv2.CV_32F, 1, 0) * (normal_x / length)[..., None]
              + cv2.Sobel(pixels, cv2.CV_32F, 0, 1) * (normal_y / length)[..., None])
    across = np.sqrt((change ** 2).sum(axis=2))
    edge = painted > cv2.erode(painted, np.ones((3, 3), np.uint8))
    inside = cv2.distanceTransform(painted, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - painted, cv2.DIST_L2, 3)
    beside = ((inside > 3) & (inside <= 8)) | ((outside > 3) & (outside <= 8))
    if not beside.any():
        return True
    return float(across[edge].mean()) > EDGE_CONTRAST * float(across[beside].mean())


def _objectness(salient: np.ndarray | None, subject: np.ndarray, background: np.ndarray) -> float:
    """The reference's :func:`~icm_core.lite.objectness.agreement` over its classified cells."""
    from .objectness import agreement

    if salient is None:
        return 0.0
    known = subject | background
    return agreement(salient.ravel()[known], subject[known])


def stroke_tokens(descriptors: np.ndarray, strokes: np.ndarray,
                  salient: np.ndarray | None = None) -> ReferenceTokens:
    """Tokens for matting a reference picture from its own strokes (its completion): subject
    where the strokes cover a cell (or a thin stroke's best-covered cells), background where
    an unpainted cell is far from them (as far as :func:`_unpainted_subject`'s far background)
    or unlike them.  Unpainted cells nearer and at least UNSURE_LIKENESS alike are in neither
    class: matted with its own tokens, a cell in a class votes for that class on itself, so the
    rest of the subject the strokes missed must be in neither for the picture's own evidence
    (affinity, colours, edges) to decide."""
    grid = descriptors.shape[1:]
    covered = coverage(strokes > 0.5, grid)
    cells = covered.ravel()
    tokens = descriptors.reshape(len(descriptors), -1).T
    best = float(cells.max())
    subject = cells >= min(PAINTED, max(0.5, best * 0.75), best)
    unpainted = covered <= UNPAINTED
    outside = cv2.distanceTransform(unpainted.astype(np.uint8), cv2.DIST_L2, 3).ravel()
    unpainted = unpainted.ravel()
    likeness = (tokens @ tokens[subject].T).max(axis=1)
    near = outside < float(subject.sum()) ** 0.5
    background = unpainted & ~(near & (likeness >= UNSURE_LIKENESS))
    if not background.any():
        background = cells <= float(cells.min())
    return ReferenceTokens(_subsample(tokens[subject]), _subsample(tokens[background]),
                           objectness=_objectness(salient, subject, background))


def _unpainted_subject(tokens, covered, subject, background):
    """Unpainted cells that may belong to the subject, as (missed, unsure): a stroke over part
    of the subject must not teach the rest as background.  Both are cells joined to the stroke
    that look like its core (not its edge, where a generous brush also paints background) more
    than like the background far from it:
    * *missed* — the rest of a half-painted subject (a sheep's shaded body beyond its painted
      face), taught as subject: parts of at least JOIN_SHARE of the stroke's cells that reach
      deeper than its edge and do not ring it, each cell at least MISSED_LIKENESS alike,
      judged against the far background unlike the core (the missed rest reaches far from the
      stroke too);
    * *unsure* — cells at least UNSURE_LIKENESS alike, judged against all the far background
      (the road under a car looks more like the car than like far-off trees, yet is not the
      car), taught neither way.
    """
    unpainted = (covered <= UNPAINTED).astype(np.uint8)
    outside = cv2.distanceTransform(unpainted, cv2.DIST_L2, 3).ravel()
    inside = cv2.distanceTransform(1 - unpainted, cv2.DIST_L2, 3).ravel()
    core = subject & (inside > EDGE_DEPTH)
    if core.sum() < FAR_CELLS:
        core = subject
    likeness = np.zeros(len(tokens), np.float32)
    likeness[background] = (tokens[background] @ tokens[core].T).max(axis=1)
    stroke_side = cv2.dilate((~background).reshape(covered.shape).astype(np.uint8),
                             cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)),
                             borderType=cv2.BORDER_CONSTANT, borderValue=0).ravel() > 0
    ring = stroke_side & background  # unpainted cells beside the stroke

    def far_from_stroke(cells):
        far = cells & (outside >= float(subject.sum()) ** 0.5)
        if far.sum() < FAR_CELLS:  # the subject fills the frame: the farthest quarter stands in
            far = cells & (outside >= np.quantile(outside[cells], 0.75))
        return far

    def joined_parts(threshold, far, min_area=0, min_reach=0, max_ring_share=1.0):
        """Parts of cells at least ``threshold`` like the core and voted nearer to it than to
        ``far`` that touch the stroke (a look-alike elsewhere is background), of at least
        ``min_area`` cells, reaching at least ``min_reach`` cells from the stroke and holding
        at most ``max_ring_share`` of the cells beside it."""
        like = background & (likeness >= threshold)
        like[like] = nearest_vote(tokens[like], tokens[core], tokens[far]) > 0.5
        count, parts = cv2.connectedComponents(like.reshape(covered.shape).astype(np.uint8),
                                               connectivity=4)
        parts = parts.ravel()
        reach = np.zeros(count)
        np.maximum.at(reach, parts, outside)
        rim = np.bincount(parts[ring], minlength=count)
        kept = rim > 0
        kept &= (np.bincount(parts, minlength=count) >= min_area) & (reach >= min_reach)
        kept &= rim <= max_ring_share * ring.sum()
        kept[0] = False
        return kept[parts]

    unlike = background & (likeness < MISSED_LIKENESS)
    if unlike.sum() < FAR_CELLS:
        unlike = background
    # a missed part reaches deeper than the strip a generous brush's edge leaves beside it, and
    # a halo round the whole stroke is the background's look near the subject
    missed = joined_parts(MISSED_LIKENESS, far_from_stroke(unlike), JOIN_SHARE * subject.sum(),
                          EDGE_DEPTH + 1, HALO_SHARE)
    unsure = joined_parts(UNSURE_LIKENESS, far_from_stroke(background))
    return missed, unsure


def combine(parts: list[ReferenceTokens]) -> ReferenceTokens:
    """One token set for several references, bounded like one reference's: each reference's
    classes are thinned evenly to an equal share so a series that learns stays as fast.  The
    references stay apart (``parts``): concatenated, a small subject (a thin knife's few full
    cells) drowns in the other references' tokens and a large background swamps the votes."""
    singles = [single for part in parts for single in (part.parts or (part,))]
    # a memory frame whose sure subject fills no whole cell (a thin bottle's neck inside the
    # matte's margin) has nothing to vote with
    singles = [single for single in singles
               if not single.memory or (len(single.subject) and len(single.background))]
    if len(singles) == 1:
        return singles[0]
    limit = max(1, MAX_TOKENS // len(singles))
    singles = tuple(ReferenceTokens(_subsample(p.subject, limit), _subsample(p.background, limit),
                                    objectness=p.objectness, instances=p.instances,
                                    memory=p.memory) for p in singles)
    # the references may each show a different one of several subjects: keep as many (a
    # memory frame's sure reading says nothing of how many the artist painted)
    counts = [p.instances for p in singles if not p.memory] or [0]
    instances = 0 if min(counts) == 0 else max(counts)
    return ReferenceTokens(np.concatenate([p.subject for p in singles]),
                           np.concatenate([p.background for p in singles]), singles,
                           float(np.mean([p.objectness for p in singles])), instances)


def _subsample(tokens: np.ndarray, limit: int = MAX_TOKENS) -> np.ndarray:
    if len(tokens) <= limit:
        return np.array(tokens, np.float32)
    step = len(tokens) / limit
    return np.array(tokens[(np.arange(limit) * step).astype(np.int64)], np.float32)


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 0.01, 0.99)
    return np.log(p / (1.0 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _closeness(tokens: np.ndarray, bank: np.ndarray, neighbours: int) -> np.ndarray:
    """Mean similarity of each token to its ``neighbours`` nearest tokens of ``bank``."""
    similarity = tokens @ bank.T
    k = min(neighbours, len(bank))
    return np.partition(similarity, -k, axis=1)[:, -k:].mean(1)


def nearest_vote(tokens, positives, negatives, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """P(positive) from the mean similarity to the k nearest positives vs negatives."""
    return _sigmoid((_closeness(tokens, positives, neighbours)
                     - _closeness(tokens, negatives, neighbours)) / TEMPERATURE)


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def target_tokens(descriptors: np.ndarray) -> TargetTokens:
    tokens = np.ascontiguousarray(descriptors.reshape(len(descriptors), -1).T, np.float32)
    affinity = _softmax_rows(tokens @ tokens.T / np.float32(TEMPERATURE))
    return TargetTokens(tokens, tuple(descriptors.shape[1:]), affinity)


def evidence(reference: ReferenceTokens, target: TargetTokens) -> Evidence:
    if reference.parts:
        return _combined_evidence(reference.parts, target)
    tokens = target.tokens
    neighbours = nearest_vote(tokens, reference.subject, reference.background)
    return Evidence(neighbours.astype(np.float32), _cross(reference.subject, target))


def _cross(subject: np.ndarray, target: TargetTokens) -> np.ndarray:
    """Each subject token spreads a softmax over the target's positions; summed, then spread
    by the target's own affinity (max 1)."""
    cross = _softmax_rows(subject @ target.tokens.T / np.float32(TEMPERATURE)).sum(0)
    cross = target.affinity @ (cross / cross.max())
    return (cross / cross.max()).astype(np.float32)


def _combined_evidence(parts: tuple[ReferenceTokens, ...], target: TargetTokens) -> Evidence:
    """Every reference votes with its own classes; on each target token the votes are mixed by
    a softmax of how close each reference's nearest tokens are.  The cross maps are each
    normalised, so a reference with few subject tokens still marks where its subject is."""
    votes, relevance = [], []
    for part in parts:
        closeness = []
        for bank in (part.subject, part.background):
            k = int(np.clip(round(len(bank) / CLASS_SHARE), 1, NEIGHBOURS))
            near = min(RELEVANCE_NEIGHBOURS, len(bank))
            top = max(k, near)
            nearest = np.sort(np.partition(target.tokens @ bank.T, -top, axis=1)[:, -top:], axis=1)
            closeness.append((nearest[:, -k:].mean(1), nearest[:, -near:].mean(1)))
        (subject, subject_near), (background, background_near) = closeness
        votes.append(_sigmoid((subject - background) / TEMPERATURE))
        relevance.append((np.maximum(subject_near, background_near)
                          - (MEMORY_MARGIN if part.memory else 0.0)) / TEMPERATURE)
    weights = np.exp(np.array(relevance) - np.max(relevance, axis=0))
    weights /= weights.sum(0)
    neighbours = (weights * np.array(votes)).sum(0)
    cross = np.maximum.reduce([_cross(part.subject, target) for part in parts])
    return Evidence(neighbours.astype(np.float32), cross)


def agreed(votes: Evidence) -> tuple[np.ndarray, np.ndarray]:
    """Target tokens where both signals agree on subject, and on background."""
    subject = (votes.cross > 0.3) & (votes.neighbours > 0.5)
    background = (votes.neighbours < 0.3) | ((votes.cross < 0.02) & (votes.neighbours < 0.6))
    return subject, background


def coarse_probability(target: TargetTokens, votes: Evidence,
                       corrections: Corrections | None = None,
                       salient: np.ndarray | None = None, objectness: float = 0.0) -> CoarseMaps:
    """Foreground probability of each target token; ``corrections`` (from
    :func:`icm_core.lite.corrections.correct`) join the target's own prototypes, take support
    from what looks like a remove stroke, give it to what looks like a keep stroke, and pin.
    ``salient`` (the target's saliency per token) adds its log-odds, weighed by OBJECTNESS ×
    ``objectness`` (the reference's agreement with its own saliency), to the in-context
    evidence before the target's affinity spreads it."""
    tokens, neighbours, cross = target.tokens, votes.neighbours, votes.cross
    fix = corrections or Corrections.none(len(tokens))
    # Prototypes from the target itself: where both signals agree, and where the artist said.
    agreed_subject, agreed_background = agreed(votes)
    subject = ((agreed_subject & (fix.removed < 0.5)) | fix.keep | (fix.kept > 0.5)) & ~fix.remove
    # A remove stroke's look-alikes teach "background" only where the reference does not vouch
    # for them: a gap painted between flowers must not turn the leaves that look like its
    # cells into background prototypes (everything like them would follow); where the reference
    # does vouch (a look-alike bystander), the stroke's own vote still removes it below.
    removed = (fix.removed > 0.5) & (neighbours < 0.5)
    background = (agreed_background | fix.remove | removed) & ~subject
    if subject.sum() < 2:
        subject = cross >= np.sort(cross)[-min(3, len(cross))]
    if background.sum() < 2:
        background = cross <= np.sort(cross)[min(3, len(cross)) - 1]
    own = nearest_vote(tokens, tokens[subject], tokens[background])
    prior = (0.5 * own + 0.5 * neighbours * own) * (1.0 - fix.removed)
    if salient is not None and objectness * OBJECTNESS > 0:
        prior = _sigmoid(_log_odds(prior) + OBJECTNESS * objectness
                         * _log_odds(salient.ravel()) * (1.0 - fix.removed))
    prior = np.maximum(prior, fix.kept)
    probability = target.affinity @ prior.astype(np.float32)
    probability[fix.keep] = 1.0
    probability[fix.remove] = 0.0
    support = np.maximum(cross, fix.kept)  # what a keep stroke vouches for needs no reference
    return CoarseMaps(probability.reshape(target.grid).astype(np.float32),
                      support.reshape(target.grid).astype(np.float32))
