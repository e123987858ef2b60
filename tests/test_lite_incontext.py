"""lite's reference tokens on hand-made descriptors: which cells teach subject, which background."""

from __future__ import annotations

import cv2
import numpy as np


from icm_core.lite.incontext import follows_edges, reference_tokens

GRID = (20, 30)


def unit(*weights):
    vector = np.zeros(8, np.float32)
    vector[: len(weights)] = weights
    return vector / np.linalg.norm(vector)


FACE = unit(1)
BODY = unit(0.55, 0.835)  # cosine 0.55 to the face: the shaded rest of the same animal
GRASS = unit(0, 0, 1)
SHADOW = unit(0.7, 0, 0, 0.714)  # more like the face than the body is, but a thin fringe
BYSTANDER = unit(0.9, 0, 0, 0, 0.436)  # like the face, far from the stroke
FINGER = unit(0.55, 0, 0, 0, 0, 0, 0.835)  # as like the face as the body, a small part beside it


def on_grass(painted, *layers):
    """Reference tokens of a grid of grass under ``layers`` ((cells, vector) pairs, later ones
    on top), with the cells ``painted`` painted."""
    cells = np.empty(GRID + (8,), np.float32)
    cells[:] = GRASS
    for where, vector in layers:
        cells[where] = vector
    mask = np.zeros(GRID, np.float32)
    mask[painted] = 1.0
    return reference_tokens(np.ascontiguousarray(cells.transpose(2, 0, 1)), mask)


def scene(painted_body: bool):
    """A face (painted) and a body (painted or not) on grass, a shadow along the face's lower
    edge, a small look-alike finger off the body's side and a look-alike bystander in a far
    corner."""
    return on_grass(np.s_[4:17, 5:25 if painted_body else 15],
                    (np.s_[4:17, 5:15], FACE), (np.s_[4:17, 15:25], BODY),
                    (np.s_[17, 5:13], SHADOW), (np.s_[8:10, 25:29], FINGER),
                    (np.s_[0:3, 26:30], BYSTANDER))


def holds(bank: np.ndarray, vector: np.ndarray) -> bool:
    return bool((bank @ vector > 0.999).any())


def assert_fringe_and_look_alikes_are_not_subject(tokens):
    """Grass and the far bystander teach background; the shadow, joined to the stroke and much
    like its core, teaches neither way."""
    for background in (GRASS, BYSTANDER):
        assert holds(tokens.background, background) and not holds(tokens.subject, background)
    assert not holds(tokens.subject, SHADOW) and not holds(tokens.background, SHADOW)


def test_the_unpainted_rest_of_a_half_painted_subject_teaches_subject():
    """The body joins the subject's tokens: taught by the face alone, a target that shows
    mostly the body matted only the face (icm58 sheep with a half mask, MSE 0.23)."""
    tokens = scene(painted_body=False)
    assert holds(tokens.subject, FACE) and holds(tokens.subject, BODY)
    assert not holds(tokens.background, BODY)
    assert_fringe_and_look_alikes_are_not_subject(tokens)


def test_look_alikes_beside_or_far_from_a_whole_stroke_stay_background():
    """A fringe of look-alike cells beside a stroke is no missed part of the subject (rough and
    exact masks: taught as subject, it made the subject's bank take background), nor is a
    bystander elsewhere."""
    tokens = scene(painted_body=True)
    assert holds(tokens.subject, BODY) and holds(tokens.subject, FACE)
    assert_fringe_and_look_alikes_are_not_subject(tokens)
    # deep enough, but far smaller than the stroke: no missed part of it
    assert holds(tokens.background, FINGER) and not holds(tokens.subject, FINGER)


def test_a_look_alike_strip_beside_a_thin_stroke_is_not_its_missed_part():
    """Beside a thin subject painted whole (a knife at the fast preset's coarse grid), a strip of
    look-alike background two cells wide is as large as a missed part would be, but no deeper
    than a generous brush's edge: it is not taught as subject."""
    face = np.s_[4:16, 10:13]
    tokens = on_grass(face, (face, FACE), (np.s_[4:16, 13:15], SHADOW))
    assert holds(tokens.subject, FACE) and not holds(tokens.subject, SHADOW)


def test_a_halo_round_the_whole_stroke_is_background():
    """A plain backdrop looks a little like the subject near it (the features see both): a
    halo round the whole stroke, thick and large enough for a missed part, stays background."""
    halo = unit(0.55, 0, 0, 0, 0, 0.835)
    face = np.s_[6:14, 11:19]
    tokens = on_grass(face, (np.s_[2:18, 7:23], halo), (face, FACE))
    assert holds(tokens.background, halo) and not holds(tokens.subject, halo)


def test_a_completion_that_only_fills_out_a_filled_masks_edge_keeps_its_background():
    """A filled mask completes to a sliver more (the tips of a doll's hair): the sliver is taught
    as subject, but the look-alike backdrop beyond it, which the mask's reading is sure is
    background, stays background (taught neither way, it let targets take look-alike
    backdrop: alphamatting dolls, exact masks, MSE 0.0243 → 0.0168 once it stays)."""
    tip = unit(0.4, 0, 0, 0, 0, 0, 0, 0.917)  # unlike the face: background to the mask alone
    cells = np.empty(GRID + (8,), np.float32)
    cells[:] = GRASS
    cells[5:15, 8:20] = FACE
    cells[5:15, 20] = tip
    cells[5:15, 21:23] = SHADOW
    descriptors = np.ascontiguousarray(cells.transpose(2, 0, 1))
    painted = np.zeros(GRID, np.float32)
    painted[5:15, 8:20] = 1.0
    completed = painted.copy()
    completed[5:15, 20] = 1.0
    alone = reference_tokens(descriptors, painted)
    both = reference_tokens(descriptors, painted, completed=completed)
    assert holds(alone.background, SHADOW) and holds(alone.background, tip)
    assert holds(both.subject, tip) and not holds(both.background, tip)
    assert holds(both.background, SHADOW) and not holds(both.subject, SHADOW)


def test_a_completed_mask_adds_subject_and_keeps_what_the_strokes_taught():
    """A completion that found the body but not the face's missed edge: both readings' subject
    is taught, and only what both call background stays background."""
    cells = np.empty(GRID + (8,), np.float32)
    cells[:] = GRASS
    cells[4:17, 5:15] = FACE
    cells[4:17, 15:25] = BODY
    descriptors = np.ascontiguousarray(cells.transpose(2, 0, 1))
    strokes = np.zeros(GRID, np.float32)
    strokes[6:15, 7:13] = 1.0  # inside the face only
    completed = np.zeros(GRID, np.float32)
    completed[6:17, 7:25] = 1.0  # the body too, but not the face's left and top edge
    alone = reference_tokens(descriptors, strokes)
    both = reference_tokens(descriptors, strokes, completed=completed)
    assert not holds(alone.subject, BODY) and holds(both.subject, BODY)
    assert holds(both.subject, FACE) and not holds(both.background, BODY)
    assert holds(both.background, GRASS) and not holds(both.subject, GRASS)


def test_a_fat_brush_teaches_alone_where_its_completion_only_fills_out_its_edge():
    """A fat brush round the subject already covers it with a margin: what its completion adds
    just beyond it (a column of backdrop) is the background the brush's edge lies in, so the
    mask teaches alone and the column stays background (taught as subject, it let targets take
    the backdrop round a doll's hair and round flowers: alphamatting, rough masks).  A tight
    mask's completion still adds the edge it fills out, and a fat brush's completion that
    reaches far beyond it (the rest of the subject, unlike the face) still teaches."""
    other = unit(0.3, 0, 0, 0, 0, 0.954)  # the backdrop beside the brush, or the subject's rest
    cells = np.empty(GRID + (8,), np.float32)
    cells[:] = GRASS
    cells[5:15, 8:20] = FACE
    cells[5:15, 21:29] = other
    descriptors = np.ascontiguousarray(cells.transpose(2, 0, 1))
    painted = np.zeros(GRID, np.float32)
    painted[4:16, 7:21] = 1.0  # a margin of grass round the face
    edge = painted.copy()
    edge[4:16, 21] = 1.0  # the completion fills out the brush's edge: one column beyond it
    deep = painted.copy()
    deep[4:16, 21:29] = 1.0  # the completion finds a whole part beyond it
    generous = reference_tokens(descriptors, painted, completed=edge, tight=False)
    filled = reference_tokens(descriptors, painted, completed=edge)
    assert not holds(generous.subject, other) and holds(generous.background, other)
    assert holds(filled.subject, other)
    found = reference_tokens(descriptors, painted, completed=deep, tight=False)
    assert holds(found.subject, other) and not holds(found.background, other)


def picture_with_disc(textured: bool):
    """A 200×300 picture: a light disc on a dark backdrop, plain or noisy (foliage-like)."""
    rng = np.random.default_rng(0)
    image = np.full((200, 300, 3), 40, np.float32)
    if textured:
        image += rng.normal(0, 25, image.shape).astype(np.float32)
    disc = np.zeros((200, 300), np.uint8)
    cv2.circle(disc, (150, 100), 60, 1, -1)
    image[disc > 0] = (200, 180, 160)
    return np.clip(image, 0, 255).astype(np.uint8), disc.astype(np.float32)


def test_a_mask_drawn_round_the_outline_follows_the_pictures_edges_and_a_fat_brush_does_not():
    for textured in (False, True):
        image, disc = picture_with_disc(textured)
        fat = cv2.dilate(disc, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31)))
        assert follows_edges(image, disc)
        assert not follows_edges(image, fat)
        # a stroke inside the disc does not follow it either
        assert not follows_edges(image, cv2.erode(disc, np.ones((41, 41), np.uint8)))
