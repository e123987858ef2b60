"""lite's matting solvers (icm_core.refine) against their definitions: the closed-form alpha
equals a dense solve of Levin et al.'s matting Laplacian built window by window, and the
multilevel foreground recovers known subject colours from a composite; the guided filter's
coefficients equal a per-pixel solve."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from icm_core import synthetic
from icm_core.refine import closed_form, foreground, grabcut, upsampling


def dense_matting_laplacian(image: np.ndarray, epsilon: float) -> np.ndarray:
    """L_ij = Σ_windows [δ_ij − (1 + (I_i − μ)ᵀ (Σ + ε/9·I₃)⁻¹ (I_j − μ)) / 9], one window at a time."""
    height, width = image.shape[:2]
    laplacian = np.zeros((height * width, height * width))
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            index = np.array([(y + dy) * width + x + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
            colours = image.reshape(-1, 3)[index]
            centred = colours - colours.mean(axis=0)
            inverse = np.linalg.inv(centred.T @ centred / 9 + epsilon / 9 * np.eye(3))
            laplacian[np.ix_(index, index)] += np.eye(9) - (1 + centred @ inverse @ centred.T) / 9
    return laplacian


def test_closed_form_alpha_equals_the_dense_definition():
    rng = np.random.default_rng(3)
    height, width = 9, 11
    image = rng.random((height, width, 3)).astype(np.float32)
    trimap = np.full((height, width), 0.5, np.float32)
    trimap[:, :2], trimap[:, -2:] = 1.0, 0.0  # subject on the left, background on the right
    trimap[0, 5] = 1.0  # a sure pixel inside the band
    subject = trimap > 0.5
    alpha = closed_form.closed_form_alpha(image, trimap, subject)

    laplacian = dense_matting_laplacian(image.astype(np.float64), 1e-7)
    unknown = (trimap == 0.5).ravel()
    known_alpha = (trimap.ravel() == 1.0).astype(np.float64)
    expected = known_alpha.copy()
    expected[unknown] = np.linalg.solve(laplacian[np.ix_(unknown, unknown)],
                                        -laplacian[np.ix_(unknown, ~unknown)] @ known_alpha[~unknown])
    expected = np.clip(expected, 0, 1).reshape(height, width)
    assert np.abs(alpha - expected).max() < 1e-5
    assert not np.array_equal(alpha, subject.astype(np.float32))  # the band was really solved


def test_multilevel_foreground_recovers_the_subject_colours():
    height, width = 120, 160
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    subject_colour = np.stack([0.2 + 0.6 * xx, 0.7 - 0.4 * yy, 0.5 + 0 * xx], -1)
    background = np.stack([0.9 - 0.5 * yy, 0.1 + 0.3 * np.sin(9 * xx) ** 2, 0.8 * yy], -1)
    alpha = np.clip((0.35 - np.hypot(yy - 0.5, xx - 0.5)) * 25, 0, 1)
    picture = alpha[..., None] * subject_colour + (1 - alpha[..., None]) * background
    estimate = foreground.estimate_foreground(picture.astype(np.float32), picture.astype(np.float32),
                                          alpha.astype(np.float32))
    partial = (alpha > 0.1) & (alpha < 0.9)
    assert partial.sum() > 200
    error = np.abs(estimate - subject_colour)[partial].mean()
    naive = np.abs(picture - subject_colour)[partial].mean()
    print(f'mean colour error {error:.4f}, of the picture itself {naive:.4f}')
    assert error < naive / 4
    inside = alpha == 1.0  # pure subject: its own colour
    assert np.abs(estimate - subject_colour)[inside].max() < 5e-3
    _, behind = foreground.multilevel_foreground(picture.astype(np.float32), alpha.astype(np.float32))
    assert np.abs(behind - background)[alpha == 0.0].max() < 5e-3  # pure background: its own colour


def test_guided_coefficients_solve_the_windows_where_the_target_varies():
    """The coefficients (solved only where the target varies over the window) equal a plain
    per-pixel solve of the guided filter's 3×3 systems everywhere."""
    rng = np.random.default_rng(5)
    guide = rng.random((40, 50, 3)).astype(np.float32)
    target = np.zeros((40, 50), np.float32)
    target[:, 30:] = 1.0
    target[10:20, 20:30] = rng.random((10, 10))  # a soft patch; the rest is flat 0 or 1
    radius, eps = 2, 1e-3
    coefficients = upsampling.guided_coefficients(guide, target, radius, eps)

    def mean(x):
        return cv2.boxFilter(x.astype(np.float64), -1, (2 * radius + 1,) * 2,
                             borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = mean(guide), mean(target)
    cov = mean(guide * target[..., None]) - mean_i * mean_p[..., None]
    var = np.stack([mean(guide * guide[..., [k]]) for k in range(3)], -1) \
        - mean_i[..., :, None] * mean_i[..., None, :] + eps * np.eye(3)
    a = np.linalg.solve(var, cov[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    expected = np.concatenate([mean(a), mean(b)[..., None]], -1)
    assert np.abs(coefficients - expected).max() < 1e-4
    assert np.abs(coefficients[..., :3]).max() > 0.1  # the soft patch really has slopes


def test_foreground_iterated_near_the_soft_band_only_matches_iterating_everywhere():
    scene = synthetic.scene(2, size=(120, 160))
    band, _ = foreground.multilevel_foreground(scene.image, scene.alpha, margin=4)
    everywhere, _ = foreground.multilevel_foreground(scene.image, scene.alpha, margin=200)
    visible = scene.alpha > 0.05
    assert np.abs(band - everywhere)[visible].mean() < 1e-3


def _ring_band(height, width, rng):
    """A picture with a subject disc and a trimap whose unknown band is a ring around it."""
    y, x = np.mgrid[0:height, 0:width]
    radius = np.hypot(y - height / 2, x - width / 2)
    image = rng.random((height, width, 3)).astype(np.float32) * 0.3
    image[radius < min(height, width) / 3] += 0.6
    trimap = np.where(radius < min(height, width) / 4, 1.0, 0.0).astype(np.float32)
    trimap[(radius >= min(height, width) / 4) & (radius < min(height, width) / 2.4)] = 0.5
    return image, trimap


def test_closed_form_alpha_on_a_band_cut_into_parts_equals_the_dense_definition():
    """A band of hundreds of unknowns is numbered by nested dissection (cut into parts many
    times over); the alpha still equals the dense solve of the whole band."""
    rng = np.random.default_rng(7)
    image, trimap = _ring_band(34, 40, rng)
    unknown = (trimap == 0.5).ravel()
    ys, xs = np.nonzero(trimap == 0.5)
    assert unknown.sum() > 4 * 64  # cuts on several levels down to the default leaf size
    assert not np.array_equal(closed_form.dissection_order(ys, xs), np.arange(len(ys)))
    alpha = closed_form.closed_form_alpha(image, trimap, trimap > 0.5)

    laplacian = dense_matting_laplacian(image.astype(np.float64), 1e-7)
    known_alpha = (trimap.ravel() == 1.0).astype(np.float64)
    expected = known_alpha.copy()
    coupling = laplacian[np.ix_(unknown, ~unknown)] @ known_alpha[~unknown]
    expected[unknown] = np.linalg.solve(laplacian[np.ix_(unknown, unknown)], -coupling)
    expected = np.clip(expected, 0, 1).reshape(trimap.shape)
    assert np.abs(alpha - expected).max() < 1e-5
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert soft.sum() > 20  # the band was really solved


def test_dissection_order_numbers_every_pixel_once_and_cuts_fill_in():
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    ys, xs = np.nonzero(_ring_band(120, 160, np.random.default_rng(1))[1] == 0.5)
    order = closed_form.dissection_order(ys, xs)
    assert np.array_equal(np.sort(order), np.arange(len(ys)))
    assert closed_form.dissection_order(ys[:0], xs[:0]).size == 0

    def fill(order):
        """Non-zeros of the LU factors of a 5×5-neighbourhood system numbered by ``order``."""
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        where = {(y, x): r for y, x, r in zip(ys, xs, rank)}
        pairs = [(r, where[y + dy, x + dx]) for y, x, r in zip(ys, xs, rank)
                 for dy in range(-2, 3) for dx in range(-2, 3) if (y + dy, x + dx) in where]
        rows, cols = np.array(pairs).T
        values = np.where(rows == cols, 30.0, -1.0)  # diagonally dominant: no pivoting
        system = csc_matrix((values, (rows, cols)), shape=(len(order),) * 2)
        lu = splu(system, permc_spec="NATURAL", diag_pivot_thresh=0.0)
        return lu.L.nnz + lu.U.nnz

    raster = np.arange(len(ys))  # row by row: a band's fill spans whole rows of the ring
    assert fill(order) < 0.7 * fill(raster)


def test_refined_single_precision_solve_matches_double_precision(monkeypatch):
    """The closed-form system is factorised in single precision and polished by refinement:
    the solution is double precision's (single precision alone is off by about 4e-5 here)."""
    from scipy.sparse.linalg import splu

    scene = synthetic.scene(0, size=(150, 200), seed=1)
    subject = scene.alpha > 0.5
    square = np.ones((9, 9), np.uint8)
    band = (cv2.dilate(subject.astype(np.uint8), square)
            > cv2.erode(subject.astype(np.uint8), square))
    trimap = subject.astype(np.float32)
    trimap[band] = 0.5
    solved = {}
    refined = closed_form._solve_refined

    def keep_system(system, right):
        solved.update(system=system, right=right, solution=refined(system, right))
        return solved["solution"]

    monkeypatch.setattr(closed_form, "_solve_refined", keep_system)
    closed_form.closed_form_alpha(scene.image, trimap, subject)
    exact = splu(solved["system"]).solve(solved["right"])
    assert np.abs(solved["solution"] - exact).max() <= 1e-6


def test_a_system_singular_in_single_precision_is_solved_in_double():
    from scipy.sparse import csc_matrix

    system = csc_matrix(np.array([[1.0, 1.0], [1.0, 1.0 + 1e-10]]))
    solution = closed_form._solve_refined(system, np.array([2.0, 2.0 + 1e-10]))
    assert np.allclose(solution, [1.0, 1.0], atol=1e-4)


def _grab_cut_case(size=(150, 200), grey=False):
    """A procedural scene's picture (uint8) and GrabCut labels from a blurred, shifted copy of
    its alpha: decided far from the edge, undecided in a band around it.  ``grey``: the grey
    version with a few pixels a level off grey and three red specks, so some colour models
    have covariances with determinants just above 0 and some colours lie so far from every
    component that their densities underflow (where OpenCV's arithmetic decides)."""
    scene = synthetic.scene(2, size=size, seed=4)
    image = scene.image.mean(-1, keepdims=True).repeat(3, -1) if grey else scene.image
    pixels = (image * 255 + 0.5).astype(np.uint8)
    if grey:
        rng = np.random.default_rng(0)
        ys, xs = rng.integers(0, size[0], 5), rng.integers(0, size[1], 5)
        pixels[ys, xs, rng.integers(0, 3, 5)] += 1
        ys, xs = rng.integers(0, size[0], 3), rng.integers(0, size[1], 3)
        pixels[ys, xs] = (230, 20, 20)
    coarse = cv2.GaussianBlur(np.roll(scene.alpha, 3, axis=1), (0, 0), 4)
    labels = np.where(coarse > 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[coarse > 0.9] = cv2.GC_FGD
    labels[coarse < 0.1] = cv2.GC_BGD
    return pixels, labels


def _opencv_grab_cut(pixels, labels, iterations, seed):
    cv2.setRNGSeed(seed)
    cv2.grabCut(pixels, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), iterations,
                cv2.GC_INIT_WITH_MASK)


@pytest.mark.parametrize("grey", [False, True])
def test_grab_cut_gives_opencvs_labels(grey):
    pixels, labels = _grab_cut_case(grey=grey)
    ours, theirs = labels.copy(), labels.copy()
    grabcut.grab_cut(pixels, ours, 4, seed=1)
    _opencv_grab_cut(pixels, theirs, 4, seed=1)
    undecided = labels >= cv2.GC_PR_BGD
    assert undecided.sum() > 2000
    assert np.array_equal(ours, theirs)
    assert (ours[undecided] != labels[undecided]).sum() > 50  # the cut really moved labels


def test_grab_cut_copes_with_a_class_of_fewer_pixels_than_components():
    pixels, labels = _grab_cut_case((60, 80))
    labels[labels == cv2.GC_FGD] = cv2.GC_PR_FGD
    labels[30, 40] = labels[31, 40] = cv2.GC_FGD  # the subject: two sure pixels
    labels[labels == cv2.GC_PR_FGD] = cv2.GC_PR_BGD
    ours, theirs = labels.copy(), labels.copy()
    grabcut.grab_cut(pixels, ours, 3)
    _opencv_grab_cut(pixels, theirs, 3, seed=0)
    assert np.array_equal(ours, theirs)
    assert ours[30, 40] == ours[31, 40] == cv2.GC_FGD
