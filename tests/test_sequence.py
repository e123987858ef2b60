"""Shots: a bounded memory of earlier confident frames (icm_core.sequence) with the real lite engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from icm_core import metrics, sequence, synthetic
from icm_core.engines import get_engine
from icm_core.sequence import ShotMemory, confident_mask, numbered_shots

@pytest.fixture(scope="module")
def engine():
    return get_engine("lite", quality="fast")


def test_memory_follows_a_subject_whose_look_changes(engine):
    count = 12
    scenes = [synthetic.turning_frame(t, count) for t in range(count)]
    frames = [(scene.image, scene.alpha) for scene in scenes]
    image, alpha = frames[0]
    reference = engine.encode_reference(image, (alpha > 0.5).astype(np.float32))
    errors = {}
    for size in (0, 2):  # the memory's references alone, nothing carried along the flow
        shot = ShotMemory(engine, reference, size, carry=False)
        errors[size] = [metrics.mse(shot.matte(image).alpha, truth) for image, truth in frames[1:]]
    late = slice(-5, None)  # the frames after the background changed
    assert np.mean(errors[0][late]) > 0.3  # alone, each frame takes the background
    assert np.mean(errors[2][late]) < 0.02
    assert max(errors[2]) < 0.02


def test_the_previous_matte_carried_follows_a_subject_whose_look_changes(engine):
    """No memory frames: the reference's mask carried to the first frame, each matte to the
    next, along the flow, follow what the first frame alone would teach wrong (24 frames: each
    close enough to the one before for the flow to follow its look)."""
    count = 24
    scenes = [synthetic.turning_frame(t, count) for t in range(count)]
    mask = (scenes[0].alpha > 0.5).astype(np.float32)
    reference = engine.encode_reference(scenes[0].image, mask)
    errors = {}
    for carry in (False, True):
        shot = ShotMemory(engine, reference, 0, start=(scenes[0].image, mask), carry=carry)
        errors[carry] = [metrics.mse(shot.matte(s.image).alpha, s.alpha) for s in scenes[1:]]
    assert np.mean(errors[False][-5:]) > 0.3
    assert np.mean(errors[True]) < 0.005 and max(errors[True]) < 0.05


def test_carried_hints_hold_only_where_the_flow_is_reliable():
    """A panning shot with a strip sliding in over it: hints stay CARRY_MARGIN inside the
    carried matte's edge on each side, none on the strip (it has no match in the frame
    before), and a cut to another scene carries nothing."""
    shot = _panning_shot(2, step=6)
    before, after = shot
    frame = after.image.copy()
    frame[:, 40:80] = synthetic.scene(5, size=(240, 320)).image[:, 40:80]  # the strip
    hints = sequence.carried_hints(sequence.carried_matte(before.image, _confident_alpha(before),
                                                          frame))
    keep, remove = hints.keep > 0.5, hints.remove > 0.5
    assert keep.any() and remove.any()
    assert not hints.brushed  # a whole reading: no region of their look joins them
    margin = sequence.CARRY_MARGIN * 320 - 1
    inside = ndimage.distance_transform_edt(after.alpha > 0.5)
    outside = ndimage.distance_transform_edt(after.alpha < 0.5)
    assert (inside[keep] >= margin).all() and (outside[remove] >= margin).all()
    assert not (keep | remove)[:, 44:76].any()
    assert (keep | remove)[:, 100:].mean() > 0.5
    cut = synthetic.scene(7, size=(240, 320)).image
    assert sequence.carried_matte(before.image, _confident_alpha(before), cut) is None


def test_a_part_one_matte_dropped_is_not_carried_as_background(engine):
    """Only what two mattes in a row agree on is carried on: a frame that dropped a piece of
    the subject (as a matte may where an occluder just uncovered it) carries neither class
    there, so the next frame's own evidence decides; what both agree on is carried."""
    shot = _panning_shot(3)
    memory = _carrying(engine, shot[0])
    dropped = _confident_alpha(shot[1])
    columns = np.nonzero(dropped.any(0))[0]
    dropped[:, columns[0]:columns[0] + len(columns) // 3] = 0.0  # the subject's left third
    memory.learn(shot[1].image, dropped)
    hints = memory.hints(shot[2].image)
    subject = shot[2].alpha > 0.5
    assert hints.remove is not None and hints.keep is not None
    assert not (hints.remove[subject] > 0.5).any()
    assert (hints.keep[subject] > 0.5).mean() > 0.2


def test_a_part_one_matte_was_unsure_of_is_carried_again_once_two_agree(engine):
    """Agreement is with the previous frame's own matte, not with what it agreed on: a piece
    one matte left unsure (and background a pan reveals) is carried again as soon as two
    mattes in a row are sure of it, so the hints do not shrink frame by frame."""
    shot = _panning_shot(5)
    memory = _carrying(engine, shot[0])
    unsure = _confident_alpha(shot[1])
    columns = np.nonzero(unsure.any(0))[0]
    piece = slice(columns[0], columns[0] + len(columns) // 3)  # the subject's left third
    unsure[:, piece] = np.where(unsure[:, piece] > 0.5, 0.5, 0.0)
    memory.learn(shot[1].image, unsure)
    for scene in shot[2:4]:
        memory.learn(scene.image, _confident_alpha(scene))
    hints = memory.hints(shot[4].image)
    step = 4 * 4  # the piece has moved with the pan since frame 1
    part = np.zeros(shot[4].alpha.shape, bool)
    part[:, piece.start - step:piece.stop - step] = True
    subject = (shot[4].alpha > 0.5) & part
    assert hints.keep is not None and (hints.keep[subject] > 0.5).mean() > 0.3


def test_a_part_an_occluder_hid_is_carried_from_the_frames_before_it(engine):
    """What the previous frame cannot vouch for (an occluder hid it there) the frames before
    it can: a strip of another picture covers the panning subject in frame 3 only (its part
    background there, as a matte sees it); on frame 4 the subject it uncovers is kept, nothing
    of it removed."""
    shot = _panning_shot(5)
    memory = _carrying(engine, shot[0])
    columns = np.nonzero(shot[3].alpha.any(0))[0]
    strip = slice(columns[0] + len(columns) // 3, columns[0] + len(columns) // 3 + 40)
    for t in range(1, 4):
        image, alpha = shot[t].image.copy(), _confident_alpha(shot[t])
        if t == 3:
            image[:, strip] = synthetic.scene(5, size=(240, 320)).image[:, strip]
            alpha[:, strip] = 0.0
        memory.learn(image, alpha)
    hints = memory.hints(shot[4].image)
    revealed = np.zeros(shot[4].alpha.shape, bool)
    revealed[:, strip.start - 4 + 8:strip.stop - 4 - 8] = True  # away from the strip's edges
    revealed &= shot[4].alpha > 0.5
    assert revealed.sum() > 500
    assert hints.keep is not None and (hints.keep[revealed] > 0.5).mean() > 0.5
    assert hints.remove is None or not (hints.remove[revealed] > 0.5).any()


def test_a_scribbled_reference_carries_no_background_on_its_unpainted_subject(engine):
    """The reference carried to the first frame: its painted pixels are subject, and only what
    the engine's reading of it also takes as background is carried as background."""
    shot = _panning_shot(2, step=4)
    first = shot[0]
    strokes = np.zeros_like(first.alpha)
    ys, xs = np.nonzero(first.alpha > 0.99)
    middle = (int(ys.mean()), int(xs.mean()))
    strokes[middle[0] - 15:middle[0] + 15, middle[1] - 25:middle[1] + 25] = 1.0
    strokes *= first.alpha > 0.99
    reference = engine.encode_reference(first.image, strokes)
    hints = ShotMemory(engine, reference, 0, start=(first.image, strokes)).hints(shot[1].image)
    subject = shot[1].alpha > 0.5
    assert hints.remove is None or (hints.remove[subject] > 0.5).mean() < 0.02
    assert hints.keep is not None and (hints.keep > 0.5).sum() > 0


def _confident_alpha(scene) -> np.ndarray:
    return (scene.alpha > 0.5).astype(np.float32)


def _carrying(engine, first: synthetic.Scene) -> ShotMemory:
    """A shot's memory with ``first``'s true mask as the reference, carried to the next frame."""
    mask = _confident_alpha(first)
    return ShotMemory(engine, engine.encode_reference(first.image, mask), 0,
                      start=(first.image, mask))


def test_memory_is_bounded_and_the_users_reference_always_kept(engine):
    user = synthetic.scene(0, size=(200, 260))
    reference = engine.encode_reference(user.image, _confident_alpha(user))
    shot = ShotMemory(engine, reference, frames=2)
    assert shot.reference is reference
    for index in range(1, 6):
        scene = synthetic.scene(index, size=(240, 320))
        assert shot.learn(scene.image, _confident_alpha(scene))
        assert len(shot.memory) == min(index, 2)
        assert shot.reference.count == 1 + min(index, 2)
        assert shot.reference.image_sizes[0] == (200, 260)  # the user's, first and kept
    assert all(size == (240, 320) for size in shot.reference.image_sizes[1:])
    assert ShotMemory(engine, reference, frames=0).learn(scene.image, _confident_alpha(scene)) is False


def test_unconfident_frames_do_not_join(engine):
    user = synthetic.scene(0, size=(200, 260))
    reference = engine.encode_reference(user.image, _confident_alpha(user))
    shot = ShotMemory(engine, reference, frames=3)
    scene = synthetic.scene(1, size=(200, 260))
    unsure = np.full(scene.alpha.shape, 0.5, np.float32)
    blurred = np.clip(0.5 + 0.2 * (scene.alpha - 0.5), 0, 1)  # a faint matte: no sure subject
    wide_band = np.where(scene.alpha > 0.99, 1.0, np.where(scene.alpha > 0, 0.5, 0.0))
    wide_band[: scene.alpha.shape[0] // 2] = np.maximum(wide_band[: scene.alpha.shape[0] // 2], 0.5)
    for alpha in (unsure, blurred, np.zeros_like(unsure), np.ones_like(unsure), wide_band):
        assert not shot.learn(scene.image, alpha.astype(np.float32))
    assert len(shot.memory) == 0 and shot.reference is reference
    assert shot.learn(scene.image, _confident_alpha(scene))


def test_confident_mask_teaches_only_sure_pixels_away_from_the_edge():
    scene = synthetic.scene(2, size=(240, 320))
    alpha = scene.alpha.copy()
    alpha[100:104, :] = np.where(alpha[100:104, :] > 0.5, 0.7, 0.3)  # an unsure strip
    mask = confident_mask(alpha)
    inside = ndimage.distance_transform_edt(alpha > sequence.SURE)
    outside = ndimage.distance_transform_edt(alpha >= 1 - sequence.SURE)  # to the background
    outside = ndimage.distance_transform_edt(outside == 0)
    assert (mask[inside > sequence.MARGIN * 320 + 1] == 1).all()
    assert (mask[outside > sequence.BACKGROUND_MARGIN * 320 + 1] == 0).all()
    # neither class: the strip, the matte's soft edge and the margins are a checkerboard, so
    # every 2×2 block is half covered
    neither = (inside < sequence.MARGIN * 320 - 1) & (outside < sequence.BACKGROUND_MARGIN * 320 - 1)
    assert neither[100:104].all() and neither[(alpha > 0.3) & (alpha < 0.7)].all()
    assert mask[neither].mean() == pytest.approx(0.5, abs=0.02)
    block = mask[:-1, :-1] + mask[1:, 1:] - mask[1:, :-1] - mask[:-1, 1:]
    assert (block[neither[:-1, :-1] & neither[1:, 1:]] != 0).all()


def test_numbered_images_in_a_row_are_a_shot():
    def frames(folder, numbers, name="frame_{:04d}.png"):
        return [Path(folder) / name.format(n) for n in numbers]

    paths = (frames("a", range(1, 9)) + frames("a", range(10, 19))  # a gap starts a new run
             + frames("a", range(19, 26), "frame_{:03d}.png")  # another number width: too short
             + frames("b", [26]) + frames("a", range(30, 45), "shot{}.jpg")  # 30…44, one width
             + frames("c", [2, 1, 3, 4, 5, 6, 7, 8, 9]))  # out of order: no run of 8
    assert numbered_shots(paths) == [list(range(0, 8)), list(range(8, 17)),
                                     list(range(25, 40))]
    assert numbered_shots(frames("a", range(1, 8))) == []  # 7 photos of a series


def test_matte_follows_numbered_frames_as_a_shot(tmp_path, capsys):
    from icm_cli.cli import main
    from icm_core.imageio import read_mask, write_alpha, write_image

    count = 24  # each frame close enough to the one before for the flow to follow its look
    scenes = [synthetic.turning_frame(t, count) for t in range(count)]
    frames = [(scene.image, scene.alpha) for scene in scenes]
    write_image(tmp_path / "reference.png", frames[0][0])
    write_alpha(tmp_path / "mask.png", (frames[0][1] > 0.5).astype(np.float32))
    names = []
    for t, (image, _) in enumerate(frames[1:], 1):
        names.append(str(write_image(tmp_path / "shot" / f"frame_{t:04d}.png", image)))

    def last_error(*flags) -> float:
        out = tmp_path / ("out" + "".join(flags))
        assert main(["matte", "--reference", str(tmp_path / "reference.png"), "--mask",
                     str(tmp_path / "mask.png"), *names, "--out", str(out),
                     "--engine-option", "quality=fast", *flags]) == 0
        return metrics.mse(read_mask(out / f"frame_{count - 1:04d}_alpha.png"), frames[-1][1])

    assert last_error("--shot") < 0.02
    assert "23 frames of one shot, matted in order" in capsys.readouterr().err
    assert last_error() > 0.3  # the memory is opt-in
    assert "frames of one shot" not in capsys.readouterr().err


def _panning_shot(count: int, step: int = 4) -> list[synthetic.Scene]:
    """A scene the camera pans over: every frame the picture moves ``step`` pixels left."""
    scene = synthetic.scene(0, size=(240, 320))
    return [synthetic.Scene(np.roll(scene.image, -step * t, axis=1),
                            np.roll(scene.alpha, -step * t, axis=1), None) for t in range(count)]


def test_an_early_confident_mistake_does_not_spread(engine):
    """A frame that joined the memory with a piece of background taken as subject (a matte's
    confident mistake, or a wrong correction) must not teach it to the frames after it: the
    user's reference, which calls it background, keeps the say, and the next frames, matted
    right, outvote it."""
    shot = _panning_shot(8)
    reference = engine.encode_reference(shot[0].image, _confident_alpha(shot[0]))
    wrong = _confident_alpha(shot[1])
    piece = (slice(170, 240), slice(200, 320))  # background in every frame of the shot
    assert (shot[1].alpha[piece] == 0).all() and (shot[-1].alpha[piece] == 0).all()
    wrong[piece] = 1.0
    memory = ShotMemory(engine, reference, 3, carry=False)  # the memory's references alone
    assert memory.learn(shot[1].image, wrong)
    alone = ShotMemory(engine, reference, 0, carry=False)
    for scene in shot[2:]:
        taken = memory.matte(scene.image).alpha
        assert taken[piece].mean() < 0.05
        assert metrics.mse(taken, scene.alpha) < metrics.mse(alone.matte(scene.image).alpha, scene.alpha) + 0.002


def test_a_memory_frame_with_no_whole_subject_cell_does_not_vote(engine):
    """A thin subject's sure pixels inside the matte's margin may fill no whole feature cell:
    such a frame has no subject to vote with and must change nothing (it made every vote NaN)."""
    user = synthetic.scene(0, size=(240, 320))
    reference = engine.encode_reference(user.image, _confident_alpha(user))
    frame = synthetic.scene(1, size=(240, 320))
    thin = np.zeros(frame.alpha.shape, np.float32)
    thin[100:104, 40:280] = 1.0  # 4 px: no cell of the feature grid wholly inside
    remembered = engine.encode_reference(frame.image, thin, memory=True)
    target = synthetic.scene(2, size=(240, 320)).image
    both = engine.matte(target, engine.combine([reference, remembered])).alpha
    np.testing.assert_array_equal(both, engine.matte(target, reference).alpha)
