"""One instance when the reference shows one (lite, option ``one_instance``, on by default):
look-alike bystanders beside the subject are dropped when the reference paints one subject,
kept when it paints several, when a keep stroke lands on one, or without the option; in a shot,
the part of the subject an occluder cuts off is kept because the previous frame had it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from icm_core import synthetic
from icm_core.api import Hints, InvalidInput
from icm_core.batch import MatteSettings, matte_one
from icm_core.engines import get_engine
from icm_core.lite.instances import painted_instances
from icm_core.sequence import ShotMemory

SIZE = (360, 480)
CROWDS = (1, 5)  # crowd scenes whose bystanders the reference's votes take for the subject


@pytest.fixture(scope="module")
def engine():
    return get_engine("lite")


def crowd(index):
    scene, bystanders = synthetic.crowd(index, size=SIZE, seed=3)
    return scene, bystanders > 0.5


def disc(centre, radius):
    rows, cols = np.mgrid[:SIZE[0], :SIZE[1]]
    return ((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) <= radius ** 2


def test_painted_instances_counts_separate_subjects_not_dabs_or_brush_gaps():
    one = disc((180, 240), 60)
    assert painted_instances(one) == 1
    assert painted_instances(one | disc((180, 400), 40)) == 2
    assert painted_instances(one | disc((40, 40), 4)) == 1  # a stray dab
    gap = one & ~((np.arange(SIZE[1]) >= 239) & (np.arange(SIZE[1]) <= 240))[None]
    assert painted_instances(gap) == 1  # a brush's 2 px gap
    assert painted_instances(np.zeros(SIZE, bool)) == 0


def test_look_alike_bystanders_are_dropped_when_the_reference_paints_one(engine):
    scene = synthetic.scene(0, size=SIZE, seed=3)
    reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    every = get_engine("lite", one_instance=False)
    for index in CROWDS:
        target, bystanders = crowd(index)
        alpha = engine.matte(target.image, reference).alpha
        assert alpha[bystanders].mean() < 0.02
        assert alpha[target.alpha > 0.99].mean() > 0.95
        kept = every.matte(target.image, reference).alpha
        assert kept[bystanders].mean() > 0.8  # what the votes alone say


def test_a_reference_that_paints_several_keeps_several(engine):
    """A crowd scene as the reference, its subject and both bystanders painted: the other
    crowd scene's bystanders are kept."""
    first, bystanders = crowd(CROWDS[0])
    mask = ((first.alpha > 0.5) | bystanders).astype(np.float32)
    reference = engine.encode_reference(first.image, mask)
    assert reference.data.instances == 3
    target, others = crowd(3)
    alpha = engine.matte(target.image, reference).alpha
    assert alpha[others].mean() > 0.9 and alpha[target.alpha > 0.99].mean() > 0.95


def test_a_keep_stroke_on_a_dropped_look_alike_brings_it_back(engine):
    scene = synthetic.scene(0, size=SIZE, seed=3)
    reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    target, bystanders = crowd(CROWDS[0])
    labels, _ = ndimage.label(bystanders)
    left = labels == labels[np.nonzero(bystanders)[0][0], np.nonzero(bystanders)[1][0]]
    rows, cols = np.nonzero(left)
    stroke = disc((int(rows.mean()), int(cols.mean())), 12).astype(np.float32)
    alpha = engine.matte(target.image, reference, hints=Hints(keep=stroke)).alpha
    assert alpha[left].mean() > 0.8
    assert alpha[bystanders & ~left].mean() < 0.02  # the other one stays dropped


def test_combined_references_keep_as_many_as_the_one_that_paints_most(engine):
    scene = synthetic.scene(0, size=SIZE, seed=3)
    one = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    first, bystanders = crowd(CROWDS[0])
    three = engine.encode_reference(first.image, ((first.alpha > 0.5) | bystanders)
                                    .astype(np.float32))
    assert engine.combine([one, three]).data.instances == 3


def test_a_shots_memory_frame_does_not_change_how_many_subjects_are_kept(engine):
    """A memory frame's mask is a matte's sure reading, not subjects the artist painted."""
    scene = synthetic.scene(0, size=SIZE, seed=3)
    one = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    first, bystanders = crowd(CROWDS[0])
    frame = engine.encode_reference(first.image, ((first.alpha > 0.5) | bystanders)
                                    .astype(np.float32), memory=True)
    assert engine.combine([one, frame]).data.instances == 1


# (scene, where the occluder's left edge lies across the subject's width): scenes whose part
# left of the occluder the rule drops on the frame alone
CUT_SCENES = ((4, 0.35), (5, 0.4))


def occluded(index, at):
    """A scene and the same scene with an occluding blue bar across its subject, cutting it in
    two, with the cut frame's true alpha and the subject's part left of the bar."""
    scene = synthetic.scene(index, size=SIZE, seed=3)
    cols = np.nonzero(scene.alpha > 0.5)[1]
    left = int(cols.min() + at * (cols.max() - cols.min()))
    image, truth = scene.image.copy(), scene.alpha.copy()
    image[:, left:left + 40] = (0.15, 0.15, 0.8)
    truth[:, left:left + 40] = 0.0
    part = (truth > 0.99) & (np.arange(SIZE[1]) < left)[None]
    return scene, image, truth, part


@pytest.mark.parametrize("index, at", CUT_SCENES)
def test_in_a_shot_the_part_an_occluder_cuts_off_is_kept(engine, index, at):
    """Alone, the frame's smaller part looks like a second instance and is dropped; after the
    uncut frame, and a frame whose matte dropped the part, ShotMemory passes where the subject
    was in them as ``follow`` and the part is kept, also in a batch's shot (``matte_one``)."""
    scene = synthetic.scene(0, size=SIZE, seed=3)
    reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    before, image, truth, part = occluded(index, at)
    assert engine.matte(image, reference).alpha[part].mean() < 0.05

    def shot():
        memory = ShotMemory(engine, reference, frames=0, carry=False)
        memory.learn(before.image, before.alpha.astype(np.float32))
        memory.learn(image, np.where(part, 0.0, truth).astype(np.float32))
        return memory

    in_batch = shot()
    matte_one(engine, reference, image, "frame", MatteSettings(), memory=in_batch)
    for alpha in (shot().matte(image).alpha, in_batch.recent[-1]):
        assert alpha[part].mean() > 0.85 and alpha[truth > 0.99].mean() > 0.9


def test_in_a_shot_a_look_alike_where_the_subject_was_not_stays_dropped(engine):
    scene = synthetic.scene(0, size=SIZE, seed=3)
    reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    target, bystanders = crowd(CROWDS[0])
    alpha = engine.matte(target.image, reference, follow=target.alpha.astype(np.float32)).alpha
    assert alpha[bystanders].mean() < 0.02 and alpha[target.alpha > 0.99].mean() > 0.95


def test_a_previous_alpha_of_another_size_is_refused(engine):
    scene = synthetic.scene(0, size=SIZE, seed=3)
    reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    with pytest.raises(InvalidInput, match="must share one size"):
        engine.matte(scene.image, reference, follow=np.zeros((10, 10), np.float32))


def test_a_corrected_frame_follows_its_subject_even_when_matted_alone_before(engine):
    """A correction starts from the target's kept segmentation without strokes: one kept from
    matting the frame alone (its cut-off part dropped) must not stand in for the one that
    follows the shot's subject."""
    scene = synthetic.scene(0, size=SIZE, seed=3)
    reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    before, image, truth, part = occluded(*CUT_SCENES[0])
    assert engine.matte(image, reference).alpha[part].mean() < 0.05
    rows, cols = np.nonzero(truth > 0.99)
    keep = disc((int(np.median(rows)), int(cols.max()) - 15), 8) & (truth > 0.99)
    hints = Hints(keep.astype(np.float32), np.zeros(SIZE, np.float32))
    alpha = engine.matte(image, reference, hints=hints,
                         follow=(before.alpha > 0.5).astype(np.float32)).alpha
    assert alpha[part].mean() > 0.85
