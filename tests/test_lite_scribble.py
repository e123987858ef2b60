"""Scribbled references: the benchmark's reproducible scribbles, and lite completing a
reference's strokes to the whole subject before encoding it."""

from __future__ import annotations

import numpy as np
import pytest

from icm_core import evaluation, synthetic
from icm_core.engines import get_engine


@pytest.fixture(scope="module")
def scenes():
    return synthetic.series(3, size=(360, 480), seed=3)


def iou(a, b):
    a, b = a >= 0.5, b >= 0.5
    return float((a & b).sum() / (a | b).sum())


def strokes_of(mask):
    import cv2

    return cv2.connectedComponents(mask.astype(np.uint8))[0] - 1


def test_scribble_is_a_few_strokes_inside_the_subject_drawn_again_from_the_same_seed(scenes):
    alpha = scenes[0].alpha
    subject = alpha >= 0.5
    for seed in range(4):
        mask = evaluation.reference_mask(alpha, "scribble", seed)
        assert mask.dtype == np.float32 and mask.shape == alpha.shape
        painted = mask > 0.5
        assert not (painted & ~subject).any()
        assert 0.15 <= painted.sum() / subject.sum() <= 0.35
        assert 1 <= strokes_of(painted) <= evaluation.SCRIBBLE_STROKES[1]
        np.testing.assert_array_equal(mask, evaluation.reference_mask(alpha, "scribble", seed))
    assert not np.array_equal(evaluation.reference_mask(alpha, "scribble", 0),
                              evaluation.reference_mask(alpha, "scribble", 1))


def test_scribble_on_a_thin_subject_stays_inside_it():
    alpha = np.zeros((300, 400), np.float32)
    alpha[140:160, 20:380] = 1.0  # a 20 px high blade
    mask = evaluation.reference_mask(alpha, "scribble", 0)
    assert not ((mask > 0.5) & (alpha < 0.5)).any()
    assert 0.15 <= (mask > 0.5).sum() / (alpha >= 0.5).sum() <= 0.35


def test_completed_reference_mask_is_the_whole_subject_not_just_the_strokes(scenes):
    engine = get_engine("lite")
    scene = scenes[0]
    strokes = evaluation.reference_mask(scene.alpha, "scribble", 0)
    completed = engine.complete_reference_mask(scene.image, strokes)
    assert completed.shape == scene.alpha.shape and completed.dtype == np.float32
    assert iou(strokes, scene.alpha) < 0.4
    assert iou(completed, scene.alpha) > 0.9
    assert (completed[strokes > 0.5] == 1.0).all()  # what was painted stays subject
    preview = engine.complete_reference_mask(scene.image, strokes, preview=True)
    assert iou(preview, scene.alpha) > 0.85


def test_a_filled_mask_completes_to_itself(scenes):
    engine = get_engine("lite")
    scene = scenes[1]
    exact = (scene.alpha >= 0.5).astype(np.float32)
    assert iou(engine.complete_reference_mask(scene.image, exact), exact) > 0.97


def test_targets_matted_from_a_scribbled_reference_get_the_whole_subject(scenes):
    reference_scene = scenes[0]
    strokes = evaluation.reference_mask(reference_scene.alpha, "scribble", 1)
    engine = get_engine("lite")
    reference = engine.encode_reference(reference_scene.image, strokes)
    for target in scenes[1:]:
        alpha = engine.matte(target.image, reference).alpha
        assert float(np.mean((alpha - target.alpha) ** 2)) < 0.01
