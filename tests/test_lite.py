"""The lite engine end to end on procedural scenes with exact alpha, and its contract."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from icm_core import evaluation, synthetic
from icm_core.api import Cancelled, InvalidInput, Reference
from icm_core.engines import get_engine


@pytest.fixture(scope="module")
def engine():
    return get_engine("lite")


@pytest.fixture(scope="module")
def scenes():
    return synthetic.series(4, size=(360, 480), seed=3)


@pytest.fixture(scope="module")
def reference(engine, scenes):
    return engine.encode_reference(scenes[0].image, (scenes[0].alpha > 0.5).astype(np.float32))


def mse(a, b):
    return float(((a - b) ** 2).mean())


def test_mattes_the_same_kind_of_subject_on_other_backgrounds(engine, scenes, reference):
    for scene in scenes[1:]:
        result = engine.matte(scene.image, reference)
        assert result.alpha.shape == scene.alpha.shape
        assert result.alpha.dtype == np.float32
        assert 0.0 <= result.alpha.min() and result.alpha.max() <= 1.0
        # A constant, shifted or reference-copied matte scores ≥ 0.05 here.
        assert mse(result.alpha, scene.alpha) < 0.01
        # Soft edges: the rim has fractional alpha, not a hard cut.
        rim = (scene.alpha > 0.05) & (scene.alpha < 0.95)
        assert ((result.alpha[rim] > 0.02) & (result.alpha[rim] < 0.98)).mean() > 0.3


def test_output_has_the_targets_exact_odd_size(engine, reference):
    scene = synthetic.scene(5, size=(203, 517), seed=3)
    alpha = engine.matte(scene.image, reference).alpha
    assert alpha.shape == (203, 517)
    assert mse(alpha, scene.alpha) < 0.02


def test_large_target_is_refined_at_full_resolution(engine, reference):
    scene = synthetic.scene(2, size=(1500, 2100), seed=3)
    result = engine.matte(scene.image, reference, foreground=True)
    assert result.alpha.shape == (1500, 2100)
    assert result.foreground.shape == (1500, 2100, 3)
    assert mse(result.alpha, scene.alpha) < 0.01


def test_foreground_colours_match_the_subject(engine, scenes, reference):
    scene = scenes[1]
    result = engine.matte(scene.image, reference, foreground=True)
    solid = scene.alpha > 0.99
    assert np.abs(result.foreground[solid] - scene.image[solid]).mean() < 0.02


def test_same_seed_same_alpha_and_reference_is_reusable(engine, scenes, reference):
    first = engine.matte(scenes[2].image, reference, seed=11).alpha
    engine.matte(scenes[3].image, reference, seed=11)
    again = engine.matte(scenes[2].image, reference, seed=11).alpha
    assert np.array_equal(first, again)
    fresh = engine.encode_reference(scenes[0].image, (scenes[0].alpha > 0.5).astype(np.float32))
    assert np.array_equal(first, engine.matte(scenes[2].image, fresh, seed=11).alpha)


def test_inputs_are_not_modified(engine, scenes):
    image = scenes[0].image.copy()
    mask = (scenes[0].alpha > 0.5).astype(np.float32)
    mask_copy = mask.copy()
    reference = engine.encode_reference(image, mask)
    target = scenes[1].image.copy()
    engine.matte(target, reference)
    assert np.array_equal(image, scenes[0].image)
    assert np.array_equal(mask, mask_copy)
    assert np.array_equal(target, scenes[1].image)


def test_several_references_combine(engine, scenes):
    references = [
        engine.encode_reference(s.image, (s.alpha > 0.5).astype(np.float32)) for s in scenes[:2]
    ]
    combined = engine.combine(references)
    assert combined.count == 2
    alpha = engine.matte(scenes[3].image, combined).alpha
    assert mse(alpha, scenes[3].alpha) < 0.01


def test_scribbled_mask_still_guides(engine, scenes):
    """A thin stroke covers no feature cell fully; the best-covered cells stand in."""
    mask = np.zeros(scenes[0].alpha.shape, np.float32)
    rows, cols = np.nonzero(scenes[0].alpha > 0.99)
    centre = int(rows.mean()), int(cols.mean())
    mask[centre[0] - 3 : centre[0] + 3, centre[1] - 60 : centre[1] + 60] = 1.0
    reference = engine.encode_reference(scenes[0].image, mask)
    alpha = engine.matte(scenes[1].image, reference).alpha
    assert mse(alpha, scenes[1].alpha) < 0.05


def test_stroke_over_half_the_subject_mattes_all_of_it(engine, scenes):
    """The unpainted half of a subject is not taught as background."""
    mask = evaluation.reference_mask(scenes[0].alpha, "half")
    reference = engine.encode_reference(scenes[0].image, mask)
    for scene in scenes[1:]:
        alpha = engine.matte(scene.image, reference).alpha
        assert alpha[scene.alpha > 0.99].mean() > 0.85  # 0.63-0.73 when it is
        assert mse(alpha, scene.alpha) < 0.02


def test_progress_is_reported_in_order(engine, scenes, reference):
    seen = []
    engine.matte(scenes[1].image, reference, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_cancel_stops_between_stages(engine, scenes, reference):
    cancel = threading.Event()

    def progress(fraction, message):
        if fraction > 0.3:
            cancel.set()

    with pytest.raises(Cancelled):
        engine.matte(scenes[1].image, reference, progress=progress, cancel=cancel)


def test_reference_from_another_engine_is_refused(engine, scenes):
    foreign = Reference("icm", object(), ((10, 10),))
    with pytest.raises(InvalidInput, match="encode it again"):
        engine.matte(scenes[1].image, foreign)


def test_engine_options_are_checked():
    with pytest.raises(InvalidInput, match="CPU only"):
        get_engine("lite", device="cuda")
    with pytest.raises(InvalidInput, match="matting_side"):
        get_engine("lite", matting_side=10)
    with pytest.raises(InvalidInput, match="Unknown engine"):
        get_engine("nope")


def test_quality_presets_set_the_sides_and_explicit_options_win():
    fast, best = get_engine("lite", quality="fast"), get_engine("lite", quality="best")
    balanced = get_engine("lite")
    assert fast.feature_side < balanced.feature_side <= best.feature_side
    assert fast.matting_side < balanced.matting_side < best.matting_side
    assert fast.completion and balanced.completion and best.completion
    assert fast.graph_cut_iterations < balanced.graph_cut_iterations
    assert not get_engine("lite", quality="best", completion=False).completion
    assert get_engine("lite", quality="fast", matting_side=2048).matting_side == 2048
    with pytest.raises(InvalidInput, match="quality takes one of fast, balanced, best, not .ultra."):
        get_engine("lite", quality="ultra")


def test_blas_runs_on_one_thread_while_matting_and_as_before_after(monkeypatch, scenes):
    from threadpoolctl import threadpool_info, threadpool_limits

    from icm_core import refine

    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    seen = []
    refine_alpha = refine.refine_alpha

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return refine_alpha(*args, **kwargs)

    monkeypatch.setattr(refine, "refine_alpha", spy)
    engine = get_engine("lite")
    mask = (scenes[0].alpha > 0.5).astype(np.float32)
    with threadpool_limits(2, user_api="blas"):
        engine.matte(scenes[1].image, engine.encode_reference(scenes[0].image, mask))
        assert seen and all(threads == {1} for threads in seen)  # the reference's completion too
        assert blas_threads() == {2}


def test_fast_preset_still_mattes_the_series(scenes):
    engine = get_engine("lite", quality="fast")
    reference = engine.encode_reference(scenes[0].image, (scenes[0].alpha > 0.5).astype(np.float32))
    alpha = engine.matte(scenes[1].image, reference).alpha
    assert mse(alpha, scenes[1].alpha) < 0.01
