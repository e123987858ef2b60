"""The refinement's stages: the adaptive unknown band, foreground colours, segmentation and completion."""

from __future__ import annotations

import numpy as np

from icm_core import synthetic
from icm_core.refine import completion, foreground, segmentation, trimap


def _half_textured_disc(size=200):
    """A disc; the picture is striped (like strands of hair) on its left half, flat on its right."""
    y, x = np.mgrid[0:size, 0:size]
    subject = (y - size / 2) ** 2 + (x - size / 2) ** 2 < (size / 3) ** 2
    image = np.full((size, size, 3), 0.2, np.float32)
    image[subject] = 0.8
    stripes = (np.sin(x * 1.3 + y * 0.4) > 0) & (x < size / 2)
    image[stripes] = 0.5
    return image, subject


def test_texture_scores_busy_boundaries_above_clean_ones():
    image, subject = _half_textured_disc()
    near = np.ones(subject.shape, bool)
    busy = trimap.texture(image, near, 4.0)
    assert busy[100, 40] > 0.8  # on the striped side of the rim
    assert busy[100, 160] < 0.5  # on the clean side
    assert 0.0 <= busy.min() and busy.max() <= 1.0


def test_unknown_band_widens_only_where_textured(monkeypatch):
    image, subject = _half_textured_disc()
    monkeypatch.setattr(trimap, "TEXTURE_BAND", 0.0)
    plain = trimap.trimap_from_segmentation(subject, None, image)
    monkeypatch.setattr(trimap, "TEXTURE_BAND", 2.0)
    wide = trimap.trimap_from_segmentation(subject, None, image)
    unknown_plain, unknown_wide = plain == 0.5, wide == 0.5
    assert (unknown_plain <= unknown_wide).all()
    left, right = np.s_[:, :100], np.s_[:, 100:]
    assert unknown_wide[left].sum() > 1.5 * unknown_plain[left].sum()
    assert unknown_wide[right].sum() < 1.2 * unknown_plain[right].sum()


def test_band_width_is_the_euclidean_distance_to_the_boundary():
    """The trimap's distance: to the nearest pixel on the other side, Euclidean, both sides
    (checked against scipy's exact transform); a subject that fills the picture has no band."""
    from scipy import ndimage

    rng = np.random.default_rng(4)
    subject = ndimage.gaussian_filter(rng.random((90, 120)), 6) > 0.5
    expected = np.where(subject, ndimage.distance_transform_edt(subject),
                        ndimage.distance_transform_edt(~subject))
    assert np.abs(trimap._boundary_distance(subject) - expected).max() < 1e-3
    everything = np.ones((40, 50), bool)
    assert (trimap.trimap_from_segmentation(everything) == 1.0).all()


def test_cutout_colours_on_soft_rims_are_the_subjects_not_the_backgrounds():
    """Fringe: the foreground estimate's colour error where alpha is soft, weighted by alpha
    (how much of it shows).  The pymatting defaults scored 0.021 here, the picture itself 0.10."""
    errors = []
    for index in range(3):
        scene = synthetic.scene(index, size=(240, 320))
        colours = foreground.estimate_foreground(scene.image, scene.image, scene.alpha)
        rim = (scene.alpha > 0.05) & (scene.alpha < 0.95)
        error = np.abs(colours - scene.foreground).mean(-1) * scene.alpha
        errors.append(error[rim].sum() / scene.alpha[rim].sum())
    assert np.mean(errors) < 0.015


def _box_missed_below(lower_probability=0.08):
    """A red box on a blue background with a grey strip; the coarse map is sure of the box's
    top but misses its lower part (as a cat's lower body or a doll's legs): below GrabCut's
    sure-background level, so its hard labels give that part to the background."""
    rng = np.random.default_rng(0)
    image = np.zeros((120, 160, 3), np.float32)
    image[:] = (0.1, 0.3, 0.6)
    image[:, :40] = (0.45, 0.45, 0.4)
    subject = np.zeros((120, 160), bool)
    subject[20:100, 50:110] = True
    image[subject] = (0.8, 0.2, 0.1)
    image = np.clip(image + rng.normal(0, 0.02, image.shape), 0, 1).astype(np.float32)
    probability = np.full(subject.shape, 0.03, np.float32)
    probability[20:70, 50:110] = 0.95
    probability[70:100, 50:110] = lower_probability
    return image, probability, subject


def test_segment_completes_a_part_the_coarse_map_missed():
    image, probability, subject = _box_missed_below()
    found = segmentation.segment(image, probability, completion=True)
    assert (found & subject).sum() / subject.sum() > 0.95
    assert (found & ~subject).sum() / subject.sum() < 0.05


def test_without_completion_the_missed_part_is_lost():
    """The case above needs the completion cut (so the test above tests it)."""
    image, probability, subject = _box_missed_below()
    found = segmentation.segment(image, probability)
    assert found[70:100, 50:110].mean() < 0.5


def test_completion_obeys_remove_strokes():
    image, probability, subject = _box_missed_below()
    remove = np.zeros(subject.shape, bool)
    remove[70:100, 50:110] = True
    found = segmentation.segment(image, probability, remove=remove, completion=True)
    assert not found[remove].any()
    assert found[20:70, 50:110].mean() > 0.95


def test_completion_adds_supported_parts_reaching_out_not_enclosed_gaps_or_unsupported_rims():
    subject = np.zeros((100, 100), bool)
    subject[20:80, 20:80] = True
    subject[45:55, 45:55] = False  # a gap inside, as between leaves
    cut = subject.copy()
    cut[45:55, 45:55] = True  # the cut's smoothness closes the gap
    cut[80:95, 20:80] = True  # a missing lower part, well supported
    cut[10:20, 20:80] = True  # a rim of the subject's colour the reference does not vouch for
    support = np.full(subject.shape, 0.05, np.float32)
    support[20:95, 20:80] = 0.8
    colour = np.zeros(subject.shape, np.float32)
    completed = completion.completed(subject, cut, colour, support)
    assert completed[80:95, 20:80].all()
    assert not completed[45:55, 45:55].any()
    assert not completed[10:20, 20:80].any()
    assert completion.completed(subject, cut, colour, None)[10:20, 20:80].all()  # no support: no judge


def _subject_and_bystander():
    """A well-supported subject on the left, a weakly supported region on the right (kept by
    the support filter: its peak is half the subject's), each with a part the cut adds below."""
    subject = np.zeros((100, 120), bool)
    subject[20:60, 10:50] = True
    subject[20:60, 70:110] = True
    cut = subject.copy()
    cut[60:80, 10:50] = True
    cut[60:80, 70:110] = True
    support = np.full(subject.shape, 0.05, np.float32)
    support[20:80, 10:50] = 0.8
    support[20:80, 70:110] = 0.4
    return subject, cut, support


def test_completion_grows_only_regions_the_reference_vouches_for_most():
    subject, cut, support = _subject_and_bystander()
    completed = completion.completed(subject, cut, np.zeros(subject.shape, np.float32), support)
    assert completed[60:80, 10:50].all()
    assert not completed[60:80, 70:110].any()  # a bystander half-found is not finished
    assert completed[20:60, 70:110].all()  # (dropping it is the support filter's call)


def test_completion_leaves_parts_whose_colours_speak_for_the_background():
    subject, cut, support = _subject_and_bystander()
    colour = np.zeros(subject.shape, np.float32)
    colour[60:80, 10:50] = 2 * completion.COMPLETION_COLOUR  # the road under a car
    completed = completion.completed(subject, cut, colour, support)
    assert not completed[60:80, 10:50].any()
    colour[60:80, 10:50] = 0.5 * completion.COMPLETION_COLOUR
    assert completion.completed(subject, cut, colour, support)[60:80, 10:50].all()


def test_completion_adds_a_part_the_frame_bounds_only_if_its_colours_are_the_subjects():
    """Between the subject and the frame lies a gap the subject may close beyond the frame
    (between leaves) or a part the frame cut off (a cat's body): colour decides."""
    subject = np.zeros((100, 100), bool)
    subject[20:100, 20:80] = True
    subject[70:100, 40:60] = False  # open only to the frame below
    cut = subject | np.pad(np.ones((30, 20), bool), ((70, 0), (40, 40)))
    support = np.full(subject.shape, 0.5, np.float32)
    colour = np.zeros(subject.shape, np.float32)
    colour[70:100, 40:60] = 0.5 * abs(completion.COMPLETION_COLOUR)  # as likely either way
    assert not completion.completed(subject, cut, colour, support)[70:100, 40:60].any()
    colour[70:100, 40:60] = 2 * abs(completion.COMPLETION_COLOUR)
    assert completion.completed(subject, cut, colour, support)[70:100, 40:60].all()


def test_per_part_statistics_equal_scipys():
    """The completion's per-part tests (bincounts) agree with scipy.ndimage's per-label ones."""
    from scipy import ndimage

    from icm_core.refine import masks

    rng = np.random.default_rng(2)
    parts, count = ndimage.label(rng.random((60, 80)) > 0.6)
    flags, values = rng.random((60, 80)) > 0.9, rng.random((60, 80)).astype(np.float32)
    labels = np.arange(1, count + 1)
    assert np.array_equal(masks.parts_touching(parts, count, flags)[1:],
                          ndimage.maximum(flags, parts, labels) > 0)
    assert np.allclose(masks.part_means(values, parts, count), ndimage.mean(values, parts, labels))
    support = rng.random((60, 80)).astype(np.float32)
    peaks = ndimage.maximum(support, parts, labels)
    strong = np.concatenate([[False], peaks >= 0.7 * peaks.max()])[parts]
    assert np.array_equal(masks.strong_regions(parts > 0, support, 0.7), strong)
