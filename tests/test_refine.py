"""The refinement's adaptive unknown band."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from icm_core import refine, synthetic


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
    busy = refine.texture(image, near, 4.0)
    assert busy[100, 40] > 0.8  # on the striped side of the rim
    assert busy[100, 160] < 0.5  # on the clean side
    assert 0.0 <= busy.min() and busy.max() <= 1.0


def test_unknown_band_widens_only_where_textured(monkeypatch):
    image, subject = _half_textured_disc()
    monkeypatch.setattr(refine, "TEXTURE_BAND", 0.0)
    plain = refine.trimap_from_segmentation(subject, None, image)
    monkeypatch.setattr(refine, "TEXTURE_BAND", 2.0)
    wide = refine.trimap_from_segmentation(subject, None, image)
    unknown_plain, unknown_wide = plain == 0.5, wide == 0.5
    assert (unknown_plain <= unknown_wide).all()
    left, right = np.s_[:, :100], np.s_[:, 100:]
    assert unknown_wide[left].sum() > 1.5 * unknown_plain[left].sum()
    assert unknown_wide[right].sum() < 1.2 * unknown_plain[right].sum()


def test_cutout_colours_on_soft_rims_are_the_subjects_not_the_backgrounds():
    """Fringe: the foreground estimate's colour error where alpha is soft, weighted by alpha
    (how much of it shows).  The pymatting defaults scored 0.021 here, the picture itself 0.10."""
    errors = []
    for index in range(3):
        scene = synthetic.scene(index, size=(240, 320))
        foreground = refine.estimate_foreground(scene.image, scene.image, scene.alpha)
        rim = (scene.alpha > 0.05) & (scene.alpha < 0.95)
        error = np.abs(foreground - scene.foreground).mean(-1) * scene.alpha
        errors.append(error[rim].sum() / scene.alpha[rim].sum())
    assert np.mean(errors) < 0.015


def _half_camouflaged_box():
    """A box whose top is red and whose bottom has the grey of half the background (a laptop's
    keyboard on a grey table) and a dark rim, with a coarse map sure of the top and only
    leaning to subject on the bottom: GrabCut's colour model alone gives the bottom to the
    background."""
    rng = np.random.default_rng(0)
    image = np.zeros((120, 160, 3), np.float32)
    image[:, :80] = 0.5
    image[:, 80:] = (0.1, 0.1, 0.4)
    subject = np.zeros((120, 160), bool)
    subject[30:90, 40:120] = True
    image[30:60, 40:120] = (0.8, 0.1, 0.1)
    image[60:90, 40:120] = 0.5
    rim = subject & ~ndimage.binary_erosion(subject, iterations=3)
    image[rim] = 0.05  # as a device's edge
    image = np.clip(image + rng.normal(0, 0.02, image.shape), 0, 1).astype(np.float32)
    probability = np.full(subject.shape, 0.05, np.float32)
    probability[30:60, 40:120] = 0.95
    probability[60:90, 40:120] = 0.75
    return image, probability, subject


def test_segment_completes_a_subject_whose_colours_the_background_shares():
    image, probability, subject = _half_camouflaged_box()
    found = refine.segment(image, probability)
    assert (found & subject).sum() / subject.sum() > 0.95
    assert (found & ~subject).sum() / subject.sum() < 0.05


def test_without_completion_the_camouflaged_part_is_lost(monkeypatch):
    """The case above needs the completion cut (so the test above tests it)."""
    monkeypatch.setattr(refine, "COMPLETION_PRIOR", 0.0)
    image, probability, subject = _half_camouflaged_box()
    found = refine.segment(image, probability)
    assert (found & subject)[60:90].sum() / subject[60:90].sum() < 0.5


def test_completion_obeys_remove_strokes():
    image, probability, subject = _half_camouflaged_box()
    remove = np.zeros(subject.shape, bool)
    remove[60:90, 40:120] = True
    found = refine.segment(image, probability, remove=remove)
    assert not found[remove].any()
    assert found[30:60, 40:120].mean() > 0.95
