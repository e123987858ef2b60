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


def test_a_fat_brush_teaches_as_its_mask_alone_when_its_completion_stays_at_its_edge(scenes):
    """A fat brush round the subject (a 20 px margin) runs through the backdrop, not along the
    subject's outline: the backdrop its completion adds just beyond it is not taught as
    subject, the reference teaches as the mask alone would."""
    import cv2

    from icm_core.lite.incontext import follows_edges, reference_tokens

    engine = get_engine("lite")
    scene = scenes[1]
    fat = cv2.dilate((scene.alpha >= 0.5).astype(np.float32),
                     cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (41, 41)))
    assert not follows_edges(scene.image, fat)
    assert follows_edges(scene.image, evaluation.reference_mask(scene.alpha, "exact"))
    descriptors = engine._descriptors(scene.image)
    completed = (engine.complete_reference_mask(scene.image, fat) >= 0.5).astype(np.float32)
    alone = reference_tokens(descriptors, fat)
    assert len(reference_tokens(descriptors, fat, completed=completed).subject) \
        > len(alone.subject)  # the completion adds backdrop beside the brush
    taught = engine.encode_reference(scene.image, fat).data
    np.testing.assert_array_equal(taught.subject, alone.subject)
    np.testing.assert_array_equal(taught.background, alone.background)


def two_part_subject(size=(360, 480)):
    """A subject of two unlike parts (a red body and a white face, as a red panda's) on a
    greenish, slightly noisy ground: (picture, subject, body)."""
    height, width = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = np.random.default_rng(0).standard_normal((height, width, 1)).astype(np.float32)
    image = np.array([0.35, 0.45, 0.35], np.float32) + 0.05 * noise
    body = ((x - 200) / 110) ** 2 + ((y - 200) / 80) ** 2 <= 1
    face = ((x - 320) / 55) ** 2 + ((y - 150) / 55) ** 2 <= 1
    image[body] = [0.75, 0.2, 0.1]
    image[face] = [0.95, 0.95, 0.92]
    return np.clip(image, 0, 1), body | face, body


def test_a_scribble_reaches_the_part_of_its_object_that_looks_unlike_it():
    import cv2

    image, subject, body = two_part_subject()
    strokes = np.zeros(subject.shape, np.float32)
    cv2.line(strokes, (130, 200), (270, 200), 1.0, 40)
    strokes *= body  # painted on the red body only
    completed = get_engine("lite").complete_reference_mask(image, strokes) >= 0.5
    face = subject & ~body
    assert (completed & face).sum() / face.sum() > 0.95
    assert iou(completed, subject) > 0.95


def test_a_salient_object_beside_the_painted_one_is_not_taken():
    import cv2

    height, width = 360, 480
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.full((height, width, 3), (0.35, 0.45, 0.35), np.float32)
    box = (np.abs(x - 130) < 70) & (np.abs(y - 190) < 90)
    ball = ((x - 310) / 70) ** 2 + ((y - 190) / 70) ** 2 <= 1
    image[box] = (0.45, 0.42, 0.4)
    image[ball] = (0.9, 0.15, 0.1)  # what stands out most
    strokes = np.zeros((height, width), np.float32)
    cv2.line(strokes, (100, 150), (160, 230), 1.0, 40)
    strokes *= box
    completed = get_engine("lite").complete_reference_mask(image, strokes) >= 0.5
    assert (completed & ball).sum() / ball.sum() < 0.05
    assert (completed & box).sum() / box.sum() > 0.9


def test_salient_extent_follows_what_the_strokes_lie_on():
    from icm_core.lite.objectness import salient_extent

    salient = np.zeros((320, 320), np.float32)
    salient[40:200, 40:200] = 1.0  # the object the strokes lie on
    salient[40:200, 240:300] = 0.9  # another salient object
    strokes = np.zeros((400, 400), np.float32)  # the picture is larger than the map
    strokes[100:140, 60:240] = 1.0  # inside the first; a brush spill onto the gap
    extent = salient_extent(salient, strokes) >= 0.5
    assert extent[60:240, 60:240].all() and not extent[:, 310:365].any()
    spill = strokes.copy()
    spill[100:110, 300:310] = 1.0  # grazes the second object
    assert not (salient_extent(salient, spill) >= 0.5)[:, 310:365].any()
    filled = np.zeros_like(strokes)
    filled[50:250, 50:250] = 1.0  # a filled mask needs nothing from the saliency
    assert not salient_extent(salient, filled).any()
    assert not salient_extent(salient, np.zeros_like(strokes)).any()


def test_a_real_bottles_scribble_completes_to_the_whole_bottle(data_dir):
    from icm_core.datasets import load_manifest

    group = next(g for g in load_manifest(data_dir / "icm58-dev" / "manifest.json").groups
                 if g.name == "bottle")
    image, alpha = group.reference.load_image(), group.reference.load_alpha()
    strokes = evaluation.reference_mask(alpha, "scribble", 0)
    assert iou(strokes, alpha) < 0.3  # the label, the neck and the foil differ from the glass
    assert iou(get_engine("lite").complete_reference_mask(image, strokes), alpha) > 0.9
