"""The icm engine end to end on a tiny random SD pipeline (CPU, 128² model input)."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from icm_core.api import Cancelled, IcmWarning, InvalidInput, Reference, WeightsMissing

from .conftest import scene


def test_end_to_end_returns_alpha_at_target_size(engine):
    image, mask = scene(96, 140)
    reference = engine.encode_reference(image, mask)
    assert reference.engine == "icm" and reference.count == 1
    target, _ = scene(150, 70, shift=0.05, seed=1)
    calls = []
    result = engine.matte(target, reference, progress=lambda f, m: calls.append(f))
    assert result.alpha.shape == (150, 70) and result.alpha.dtype == np.float32
    assert 0.0 <= result.alpha.min() and result.alpha.max() <= 1.0
    assert result.alpha.std() > 0
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)
    assert {"features", "decoder", "total"} <= set(result.timings)
    assert result.foreground is None
    cutout = engine.matte(target, reference, foreground=True)
    assert cutout.foreground.shape == (150, 70, 3) and cutout.foreground.dtype == np.float32


def test_reference_reuse_equals_recomputing_per_target(engine):
    image, mask = scene(128, 128)
    targets = [scene(128, 100, shift=0.02 * i, seed=i)[0] for i in range(1, 4)]
    cached = engine.encode_reference(image, mask)
    tokens_before = cached.data.tokens.clone()
    reused = [engine.matte(t, cached, seed=3).alpha for t in targets]
    for target, alpha in zip(reversed(targets), reversed(reused)):  # order does not matter
        fresh = engine.encode_reference(image, mask)
        np.testing.assert_array_equal(engine.matte(target, fresh, seed=3).alpha, alpha)
    assert np.array_equal(cached.data.tokens.numpy(), tokens_before.numpy())  # cache untouched


def test_same_seed_same_alpha_other_seed_other_draws(engine):
    image, mask = scene(120, 120)
    target = scene(120, 120, shift=0.04, seed=5)[0]
    reference = engine.encode_reference(image, mask, seed=1)
    first = engine.matte(target, reference, seed=11).alpha
    np.testing.assert_array_equal(engine.matte(target, reference, seed=11).alpha, first)
    assert np.abs(engine.matte(target, reference, seed=12).alpha - first).max() > 0
    pixels = engine._model_input(image)
    a, b = engine._draws(pixels, 1), engine._draws(pixels, 2)
    assert not np.array_equal(a.noise.numpy(), b.noise.numpy())
    assert np.array_equal(a.vae.numpy(), engine._draws(pixels, 1).vae.numpy())


def test_several_references_combine_their_tokens(engine):
    first = engine.encode_reference(*scene(128, 128))
    second = engine.encode_reference(*scene(100, 160, shift=0.05, seed=2))
    both = engine.combine([first, second])
    assert both.count == 2 and both.image_sizes == ((128, 128), (100, 160))
    assert both.data.tokens.shape[0] == first.data.tokens.shape[0] + second.data.tokens.shape[0]
    target = scene(128, 128, shift=0.03, seed=4)[0]
    alpha_both = engine.matte(target, both).alpha
    assert np.abs(alpha_both - engine.matte(target, first).alpha).max() > 0
    with pytest.raises(InvalidInput, match="icm engine"):
        engine.combine([first, Reference("lite", object(), ((8, 8),))])
    with pytest.raises(InvalidInput):
        engine.combine([])


def test_inputs_are_not_modified(engine):
    image, mask = scene(128, 96)
    mask = mask * 0.8 + 0.1  # soft values that the model binarises
    image_copy, mask_copy = image.copy(), mask.copy()
    reference = engine.encode_reference(image, mask)
    target = scene(128, 96, seed=3)[0]
    target_copy = target.copy()
    engine.matte(target, reference)
    assert np.array_equal(image, image_copy) and np.array_equal(mask, mask_copy)
    assert np.array_equal(target, target_copy)


def test_thin_mask_falls_back_to_partial_coverage_with_warning(engine):
    image, _ = scene(128, 128)
    mask = np.zeros((128, 128), np.float32)
    mask[60:70, 10:120] = 1.0  # a 10-px stroke: no 16×16 patch is fully covered
    with pytest.warns(IcmWarning, match="partly covered"):
        reference = engine.encode_reference(image, mask)
    assert reference.data.tokens.shape[0] > 0
    _, full_mask = scene(128, 128)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IcmWarning)
        engine.encode_reference(image, full_mask)


def test_cancel_and_bad_input(engine):
    image, mask = scene(64, 64)
    reference = engine.encode_reference(image, mask)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        engine.matte(image, reference, cancel=cancel)
    with pytest.raises(InvalidInput):
        engine.matte(image.astype(np.float64), reference)
    with pytest.raises(InvalidInput):
        engine.encode_reference(image, np.zeros((64, 64), np.float32))


def _unet_blocks(unet) -> dict:
    return {**{f"down_blocks.{i}": b for i, b in enumerate(unet.down_blocks)},
            "mid_block": unet.mid_block,
            **{f"up_blocks.{i}": b for i, b in enumerate(unet.up_blocks)}}


@pytest.mark.parametrize("where", ["vae", "down_blocks.0", "mid_block"])
def test_cancel_inside_the_unet_pass_stops_before_the_next_block(engine, where):
    """The cancel is set while the VAE encoder or the UNet runs (after block ``where``): not
    one more block, UNet pass or decoder runs, and the engine is unchanged afterwards."""
    unet = engine.extractor.unet
    blocks = _unet_blocks(unet)
    first_vae_downsampler = engine.extractor.vae.encoder.down_blocks[0].downsamplers[0]
    image, mask = scene(96, 96)
    reference = engine.encode_reference(image, mask)
    target = scene(96, 96, shift=0.03, seed=4)[0]
    expected = engine.matte(target, reference).alpha
    engine.forget()  # the target's features were kept: the cancelled run must compute them
    cancel = threading.Event()
    passes, after_cancel, decoded = [], [], []

    def finished(name):
        return lambda module, args, output: after_cancel.append(name) if cancel.is_set() else None

    hooks = [unet.register_forward_pre_hook(lambda module, args: passes.append(1)),
             engine.decoder.register_forward_pre_hook(lambda module, args: decoded.append(1))]
    hooks += [block.register_forward_hook(finished(name)) for name, block in blocks.items()]
    setter = first_vae_downsampler if where == "vae" else blocks[where]
    hooks.append(setter.register_forward_hook(lambda *_: cancel.set()))
    try:
        with pytest.raises(Cancelled):
            engine.matte(target, reference, cancel=cancel)
    finally:
        for hook in hooks:
            hook.remove()
    assert cancel.is_set() and passes == ([] if where == "vae" else [1])
    assert after_cancel == [] and decoded == []
    assert not any(block._forward_pre_hooks  # ours are gone
                   for block in [*blocks.values(), first_vae_downsampler])
    np.testing.assert_array_equal(engine.matte(target, reference).alpha, expected)
    never = threading.Event()  # the checks themselves change no number
    np.testing.assert_array_equal(engine.matte(target, reference, cancel=never).alpha, expected)


def test_get_engine_without_weights_says_what_to_do():
    from icm_core.engines import get_engine

    with pytest.raises(WeightsMissing, match="weights locate --checkpoint"):
        get_engine("icm")


def test_get_engine_resolves_weights_from_environment(tiny_sd, tiny_checkpoint, monkeypatch):
    from icm_core.engines import get_engine
    from .tiny import TINY_SIZE, TINY_WIDTHS

    monkeypatch.setenv("ICM_MATTING_CHECKPOINT", str(tiny_checkpoint))
    with pytest.raises(WeightsMissing, match="weights download"):
        get_engine("icm", size=TINY_SIZE, decoder_widths=TINY_WIDTHS)
    monkeypatch.setenv("ICM_MATTING_SD", str(tiny_sd))
    engine = get_engine("icm", size=TINY_SIZE, decoder_widths=TINY_WIDTHS)
    image, mask = scene(64, 80)
    assert engine.matte(image, engine.encode_reference(image, mask)).alpha.shape == (64, 80)


def test_memory_lean_vae_encoding_gives_identical_numbers(tiny_sd):
    import torch
    from diffusers import AutoencoderKL

    from icm_core.icm.extractor import encode_posterior

    vae = AutoencoderKL.from_pretrained(tiny_sd, subfolder="vae").eval()
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    frozen = images.clone()
    with torch.no_grad():
        ours, theirs = encode_posterior(vae, images), vae.encode(images).latent_dist
    assert torch.equal(ours.mean, theirs.mean) and torch.equal(ours.std, theirs.std)
    assert torch.equal(images, frozen)


def test_large_targets_are_carried_up_along_their_own_edges(engine):
    """A target larger than the model input: the canvas alpha goes up to full size guided by
    the full-resolution picture, so a sharp edge in the picture gives a sharp alpha edge."""
    from icm_core.geometry import Letterbox

    target = np.full((512, 384, 3), 0.1, np.float32)
    target[:, 193:] = 0.9  # a sharp vertical edge off the model grid
    box = Letterbox.fit(target.shape[:2], engine.size)
    canvas = np.zeros((engine.size, engine.size), np.float32)
    columns = np.arange(engine.size, dtype=np.float32)
    canvas[:] = np.clip((columns - (box.left + 193 * box.scale - 6)) / 12, 0, 1)  # soft ramp
    guided = engine._full_resolution(target, box, canvas)
    plain = np.clip(box.crop_back(canvas), 0, 1)
    assert guided.shape == plain.shape == (512, 384)
    row_guided, row_plain = guided[256], plain[256]
    assert np.abs(np.diff(row_guided)).max() > 2 * np.abs(np.diff(row_plain)).max()
    assert abs(int(np.abs(np.diff(row_guided)).argmax()) - 192) <= 1
    image, mask = scene(128, 128)
    result = engine.matte(target, engine.encode_reference(image, mask), foreground=True)
    assert result.alpha.shape == (512, 384) and result.foreground.shape == (512, 384, 3)


def test_out_of_memory_retries_with_sliced_attention_then_explains(tiny_sd, tiny_checkpoint):
    from icm_core.api import OutOfMemory
    from icm_core.icm.engine import IcmEngine

    from .tiny import TINY_SIZE, TINY_WIDTHS

    engine = IcmEngine(checkpoint=str(tiny_checkpoint), sd=str(tiny_sd), size=TINY_SIZE,
                       decoder_widths=TINY_WIDTHS, device="cpu", attention_slicing=False)
    image, mask = scene(128, 128)
    target = scene(128, 128, shift=0.03, seed=2)[0]
    reference = engine.encode_reference(image, mask)
    whole = engine.matte(target, reference).alpha
    failures = iter([RuntimeError("DefaultCPUAllocator: can't allocate memory")])

    def fails_once():
        error = next(failures, None)
        if error:
            raise error
        return "done"

    assert engine._guarded(fails_once) == "done"
    assert engine.extractor.recorder.slice_heads == 1  # retried with sliced attention
    np.testing.assert_allclose(engine.matte(target, reference).alpha, whole, atol=1e-5)

    def always_fails():
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(OutOfMemory, match="ensemble_size"):
        engine._guarded(always_fails)
    with pytest.raises(RuntimeError, match="shape"):
        engine._guarded(lambda: (_ for _ in ()).throw(RuntimeError("shape mismatch")))


def test_hints_pin_the_alpha_and_reuse_the_targets_features(engine, monkeypatch):
    from icm_core.api import Hints

    image, mask = scene(128, 128)
    reference = engine.encode_reference(image, mask)
    target = scene(128, 120, shift=0.03, seed=7)[0]
    engine.matte(target, reference, seed=2)
    passes = []
    monkeypatch.setattr(engine.extractor, "target_features",
                        lambda *a, **k: passes.append(1) or (_ for _ in ()).throw(AssertionError))
    keep = np.zeros((128, 120), np.float32)
    keep[10:30, 10:30] = 1.0
    remove = np.zeros((128, 120), np.float32)
    remove[60:80, 60:80] = 1.0
    for preview in (True, False):
        alpha = engine.matte(target, reference, seed=2, hints=Hints(keep, remove),
                             preview=preview).alpha
        assert alpha.shape == (128, 120)
        assert alpha[keep > 0].min() == 1.0 and alpha[remove > 0].max() == 0.0
    assert passes == []  # a correction reran only the decoder and the refinement
    with pytest.raises(InvalidInput, match="both keep and remove"):
        engine.matte(target, reference, hints=Hints(keep, keep))


def test_a_non_finite_alpha_is_an_error_not_a_transparent_matte(engine, monkeypatch):
    """Finite weights can still overflow (float16): the decoder's NaN must not be written as 0."""
    from icm_core.api import Hints, IcmError

    image, mask = scene(128, 128)
    reference = engine.encode_reference(image, mask)
    decode = engine.decoder.forward

    def overflowing(*args):
        out = decode(*args)
        out.alpha = out.alpha * float("nan")
        return out

    monkeypatch.setattr(engine.decoder, "forward", overflowing)
    keep = np.zeros((128, 128), np.float32)
    keep[60:70, 60:70] = 1
    for hints in (None, Hints(keep=keep)):  # a graph cut would turn NaN into a plausible alpha
        with pytest.raises(IcmError, match="NaN or infinite alpha .* dtype=float32"):
            engine.matte(image, reference, hints=hints)
