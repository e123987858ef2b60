"""GrabCut (Rother et al. 2004) computed as OpenCV's ``cv2.grabCut`` computes it from a mask
(the same labels on the same inputs), with a graph that holds only the undecided pixels.

OpenCV builds and cuts a graph over every pixel at each iteration, though most pixels are
usually decided; here a decided neighbour's smoothness link becomes a terminal link of the
undecided pixel, which leaves the minimum cut unchanged (a decided pixel's own terminal link,
9 × SMOOTHNESS, outweighs all its smoothness links, so OpenCV never moves one either).  The
colour models are OpenCV's: five Gaussian components per class, started by k-means++ over the
class's colours (seeded), relearnt from every pixel at each iteration, each pixel assigned to
the component under which its colour is likeliest."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .closed_form import UPPER_TRIANGLE, inverse_symmetric

COMPONENTS = 5  # per colour model
SMOOTHNESS = 50.0  # GrabCut's gamma: the weight of a link between neighbours of equal colour
KMEANS_ITERATIONS = 10
#: an exponent below which a density may leave double precision's normal range (exp(−745)
#: is 0; a covariance's 1/√det is at least 255⁻³ ≈ 6e-8)
UNDERFLOW_NEAR = -600.0
SINGULAR = 1e-6  # OpenCV's bound on a covariance's determinant
# (dy, dx) of a pixel's left, upper-left, upper and upper-right neighbours: each pair once
_NEIGHBOURS = ((0, -1), (-1, -1), (-1, 0), (-1, 1))
# the colour products among the quadratic features, in their order
_PRODUCTS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def grab_cut(pixels: np.ndarray, labels: np.ndarray, iterations: int, seed: int = 0) -> None:
    """Segment ``pixels`` (H×W×3 uint8) into ``labels`` (H×W uint8 of OpenCV's GC_BGD,
    GC_FGD, GC_PR_BGD, GC_PR_FGD), in place: the undecided (GC_PR_*) pixels end as GC_PR_FGD
    or GC_PR_BGD after ``iterations`` rounds of learning the colour models and cutting.
    ``seed`` seeds the k-means that starts the models.  Each class must hold a pixel."""
    import maxflow

    flat = labels.reshape(-1)
    undecided = np.flatnonzero(flat >= cv2.GC_PR_BGD)
    if len(undecided) == 0 or iterations <= 0:
        return
    subject = (flat & 1).astype(bool)  # GC_FGD and GC_PR_FGD are the odd labels
    colours = pixels.reshape(-1, 3)
    features = _quadratic_features(colours)
    undecided_features = features[:, undecided]
    # a decided pixel never changes class, and its component depends on its colour alone, so
    # each decided class is learnt from its distinct colours with their pixel counts
    decided = [_colour_table(colours[flat == label]) for label in (cv2.GC_BGD, cv2.GC_FGD)]
    links = _links(pixels, undecided, subject)
    models = _initial_models(colours, features, subject, seed)
    for _ in range(iterations):
        models = _relearnt(models, decided, undecided_features, subject[undecided])
        graph = maxflow.Graph[float](len(undecided), len(links.weights))
        nodes = graph.add_nodes(len(undecided))
        graph.add_edges(links.first, links.second, links.weights, links.weights)
        # the source is the subject: a pixel cut from it pays −log P(colour | background)
        background_cost, subject_cost = (_cost(model, undecided_features) for model in models)
        graph.add_grid_tedges(nodes, background_cost + links.to_subject,
                              subject_cost + links.to_background)
        graph.maxflow()
        subject[undecided] = ~graph.get_grid_segments(nodes)  # True: the sink's side
    flat[undecided] = np.where(subject[undecided], cv2.GC_PR_FGD, cv2.GC_PR_BGD)


def _quadratic_features(colours: np.ndarray) -> np.ndarray:
    """10×N: (x₀², x₁², x₂², x₀x₁, x₀x₂, x₁x₂, x₀, x₁, x₂, 1) per colour.  A Gaussian's log
    density is linear in them, and a component's sums of them are its statistics."""
    channels = colours.T.astype(np.float64)
    features = np.empty((10, len(colours)))
    for row, (j, k) in enumerate(_PRODUCTS):
        np.multiply(channels[j], channels[k], out=features[row])
    features[6:9] = channels
    features[9] = 1.0
    return features


@dataclass(frozen=True)
class _Model:
    """A Gaussian mixture as OpenCV's: per component, the coefficients of the exponent of its
    density, −½(x−μ)ᵀΣ⁻¹(x−μ), over the quadratic features, the factor 1/√det Σ before it,
    and its weight."""

    exponent: np.ndarray  # K×10
    scale: np.ndarray  # K
    weights: np.ndarray  # K


def _fitted(sums: np.ndarray) -> _Model:
    """The mixture whose components have the summed quadratic features ``sums`` (K×10),
    computed as OpenCV's (the same operations, so the same roundings): an empty component is
    dropped and a covariance whose determinant is at most SINGULAR gets 0.01 added to its
    diagonal."""
    sums = sums[sums[:, 9] > 0]
    moments = sums * (1.0 / sums[:, 9:])
    mean = moments[:, 6:9]
    upper = [moments[:, _PRODUCTS.index((j, k))] - mean[:, j] * mean[:, k]
             for j, k in UPPER_TRIANGLE]
    singular = _determinant(*upper) <= SINGULAR
    for diagonal in (0, 3, 5):  # (0, 0), (1, 1), (2, 2) among UPPER_TRIANGLE
        upper[diagonal] = upper[diagonal] + 0.01 * singular
    inverse = inverse_symmetric(*upper)
    pulled = np.einsum("kij,kj->ki", inverse, mean)
    exponent = np.concatenate([
        -0.5 * np.stack([inverse[:, j, k] * (1.0 if j == k else 2.0) for j, k in _PRODUCTS], 1),
        pulled,
        -0.5 * np.einsum("ki,ki->k", mean, pulled)[:, None],
    ], 1)
    return _Model(exponent, 1.0 / np.sqrt(_determinant(*upper)), sums[:, 9] / sums[:, 9].sum())


def _determinant(s00, s01, s02, s11, s12, s22):
    """Determinants of symmetric 3×3 matrices by their upper triangles, expanded along the
    first row as OpenCV expands them (a singular covariance gives exactly 0)."""
    return (s00 * (s11 * s22 - s12 * s12) - s01 * (s01 * s22 - s12 * s02)
            + s02 * (s01 * s12 - s11 * s02))


def _component_sums(features: np.ndarray, component: np.ndarray, count: int) -> np.ndarray:
    """count×10: per component, the sums of its members' (weighted) quadratic features.
    They are whole numbers below 2⁵³, so exact in any order of summation."""
    return np.stack([np.bincount(component, row, count) for row in features], 1)


def _colour_table(colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``colours`` (N×3 uint8): their quadratic features, and those features
    times each colour's pixel count (10×M each)."""
    channels = colours.astype(np.int32).T
    packed = (channels[0] << 16) | (channels[1] << 8) | channels[2]
    distinct, counts = np.unique(packed, return_counts=True)
    features = _quadratic_features(np.stack([distinct >> 16, (distinct >> 8) & 255,
                                             distinct & 255], 1))
    return features, features * counts


def _initial_models(colours: np.ndarray, features: np.ndarray, subject: np.ndarray,
                    seed: int) -> list[_Model]:
    """Background and subject models as OpenCV starts them: k-means++ (seeded by ``seed``)
    over each class's colours in raster order, the clusters its components."""
    cv2.setRNGSeed(seed)
    component = np.empty(len(subject), np.intp)
    counts = []
    for which in (False, True):
        members = np.flatnonzero(subject == which)
        counts.append(min(COMPONENTS, len(members)))
        _, clusters, _ = cv2.kmeans(colours[members].astype(np.float32), counts[-1], None,
                                    (cv2.TERM_CRITERIA_MAX_ITER, KMEANS_ITERATIONS, 0.0), 1,
                                    cv2.KMEANS_PP_CENTERS)
        component[members] = clusters.ravel() + (counts[0] if which else 0)
    sums = _component_sums(features, component, sum(counts))
    return [_fitted(sums[:counts[0]]), _fitted(sums[counts[0]:])]


def _relearnt(models: list[_Model], decided: list[tuple[np.ndarray, np.ndarray]],
              undecided_features: np.ndarray, undecided_subject: np.ndarray) -> list[_Model]:
    """Both models learnt again from every pixel of their class, each pixel assigned to the
    component of its class's model under which its colour is likeliest (OpenCV's rule: the
    components' weights left out).  ``decided``: each decided class's colour table
    (:func:`_colour_table`); the undecided pixels' features and classes."""
    split = len(models[0].weights)
    count = split + len(models[1].weights)
    sums = np.zeros((count, 10))
    for which, (features, weighted) in enumerate(decided):
        sums += _component_sums(weighted, _likeliest(models[which], features) + which * split,
                                count)
    component = np.where(undecided_subject, _likeliest(models[1], undecided_features) + split,
                         _likeliest(models[0], undecided_features))
    sums += _component_sums(undecided_features, component, count)
    return [_fitted(sums[:split]), _fitted(sums[split:])]


def _likeliest(model: _Model, features: np.ndarray) -> np.ndarray:
    """Per colour, the component of the highest density, as OpenCV compares the densities
    themselves: one whose exponential underflows to 0 loses to any other, and where all do,
    the first component wins.  Compared by log density, which orders them the same unless the
    likeliest one's exponent is below UNDERFLOW_NEAR; those colours are compared as OpenCV."""
    log_scale = np.log(model.scale)
    coefficients = model.exponent.copy()
    coefficients[:, 9] += log_scale  # the constant feature
    log_density = coefficients @ features
    component = np.argmax(log_density, 0)
    exponent = np.take_along_axis(log_density, component[None], 0)[0] - log_scale[component]
    far = np.flatnonzero(exponent < UNDERFLOW_NEAR)
    if len(far):
        densities = np.exp(model.exponent @ features[:, far]) * model.scale[:, None]
        component[far] = np.argmax(densities, 0)
    return component


def _cost(model: _Model, features: np.ndarray) -> np.ndarray:
    """−log of the mixture's density at each colour (a density that underflows costs about
    690, more than all of a pixel's smoothness links; OpenCV's would be infinite)."""
    density = (model.weights * model.scale) @ np.exp(model.exponent @ features)
    return -np.log(np.maximum(density, 1e-300))


@dataclass(frozen=True)
class _Links:
    """The smoothness links that involve an undecided pixel, by its number among them:
    between two undecided ones (``first``, ``second``, ``weights``), and each undecided
    pixel's summed links to decided subject and background pixels."""

    first: np.ndarray
    second: np.ndarray
    weights: np.ndarray
    to_subject: np.ndarray
    to_background: np.ndarray


def squared_difference(colours: np.ndarray, here: tuple, there: tuple) -> np.ndarray:
    """‖colours[here] − colours[there]‖² per pixel of two same-shaped slices of an H×W×3
    picture (float32): summed channel by channel, as ``sum(-1)`` over 3 channels is 9× slower."""
    squares = colours[here] - colours[there]
    squares *= squares
    return squares[..., 0] + squares[..., 1] + squares[..., 2]


def _links(pixels: np.ndarray, undecided: np.ndarray, subject: np.ndarray) -> _Links:
    """GrabCut's 8-connected links: SMOOTHNESS / distance × exp(−β‖ΔI‖²), β from the mean
    squared colour difference over all neighbour pairs of the picture."""
    height, width = pixels.shape[:2]
    node = np.full(height * width, -1, np.int64)
    node[undecided] = np.arange(len(undecided))
    node, subject = node.reshape(height, width), subject.reshape(height, width)
    colours = pixels.astype(np.float32)
    total, pairs, found = 0.0, 0, []
    for dy, dx in _NEIGHBOURS:
        here = (slice(-dy, height), slice(max(0, -dx), width - max(0, dx)))
        there = (slice(0, height + dy), slice(max(0, dx), width + min(0, dx)))
        difference = squared_difference(colours, here, there)
        total += float(difference.sum(dtype=np.float64))
        pairs += difference.size
        first, second = node[here], node[there]
        touching = (first >= 0) | (second >= 0)
        found.append((np.hypot(dy, dx), first[touching], second[touching],
                      difference[touching], subject[here][touching], subject[there][touching]))
    beta = 0.0 if total <= 0 else 0.5 * pairs / total
    count = len(undecided)
    chains = {key: [] for key in ("first", "second", "weights")}
    to_subject, to_background = np.zeros(count), np.zeros(count)
    for distance, first, second, difference, first_subject, second_subject in found:
        weight = SMOOTHNESS / distance * np.exp(-beta * difference.astype(np.float64))
        both = (first >= 0) & (second >= 0)
        chains["first"].append(first[both])
        chains["second"].append(second[both])
        chains["weights"].append(weight[both])
        for own, other, other_subject in ((first, second, second_subject),
                                          (second, first, first_subject)):
            alone = (own >= 0) & (other < 0)
            to_subject += np.bincount(own[alone], weight[alone] * other_subject[alone], count)
            to_background += np.bincount(own[alone], weight[alone] * ~other_subject[alone],
                                         count)
    return _Links(*(np.concatenate(chain) for chain in chains.values()), to_subject,
                  to_background)
