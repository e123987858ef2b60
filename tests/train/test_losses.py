"""Each loss term against a value worked out by hand (docstrings show the arithmetic)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from icm_core.train import losses  # noqa: E402


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)[None, None]


PRED = t([[0.5, 0.5], [0.0, 0.25]])
GT = t([[1.0, 1.0], [0.0, 0.0]])
UNKNOWN = t([[1.0, 0.0], [0.0, 1.0]])  # two unknown, two known pixels


def test_unknown_l1():
    """errors in the band 0.5 and 0.25 → mean over 4 pixels 0.1875, × 512²/2 = 24576."""
    assert losses.unknown_l1(PRED, GT, UNKNOWN).item() == pytest.approx(24576.0)


def test_known_l1():
    """errors outside the band 0.5 and 0 → 0.5/4 × 512²/2 = 16384."""
    assert losses.known_l1(PRED, GT, UNKNOWN).item() == pytest.approx(16384.0)


def test_known_smooth_l1():
    """smooth-ℓ1(0.5) = 0.5·0.5² = 0.125 → 0.125/4 × 512²/2 = 4096; the band is ignored."""
    assert losses.known_smooth_l1(PRED, GT, UNKNOWN).item() == pytest.approx(4096.0)
    assert losses.known_smooth_l1(PRED, GT, torch.ones_like(UNKNOWN)).item() == 0.0


def test_empty_region_gives_zero():
    assert losses.unknown_l1(PRED, GT, torch.zeros_like(UNKNOWN)).item() == 0.0
    assert losses.gradient_penalty(PRED, GT, torch.zeros_like(UNKNOWN)).item() == 0.0


def test_gradient_penalty():
    """gt: an impulse in the middle of 3×3; its Sobel x and y responses are the kernels
    mirrored, |·| summing to 8 each.  pred = 0: (8/9 + 8/9) × 512²/9 = 4194304/81.
    pred = gt: only the sparsity term, 0.01 × that."""
    impulse = t([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    everywhere = torch.ones_like(impulse)
    zero = torch.zeros_like(impulse)
    assert losses.gradient_penalty(zero, impulse, everywhere).item() == pytest.approx(4194304 / 81)
    assert losses.gradient_penalty(impulse, impulse, everywhere).item() == pytest.approx(
        0.01 * 4194304 / 81)


def test_laplacian():
    """A ±1 checkerboard blurs to 0 (taps 1−4+6−4+1 = 0, reflection keeps the alternation), so
    it lives entirely in level 0: pred − gt = 0.5·checker → ℓ1 0.5 at level 0, 0 elsewhere,
    / 5 levels = 0.1.  A constant offset is invisible to the pyramid."""
    rows, cols = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = ((rows + cols) % 2 * 2 - 1).float()[None, None]
    half = torch.full_like(checker, 0.5)
    assert losses.laplacian(half + 0.5 * checker, half).item() == pytest.approx(0.1)
    offset = losses.laplacian(torch.ones_like(half), torch.zeros_like(half))
    assert offset.item() == pytest.approx(0.0, abs=1e-7)


def test_composition():
    """pred 0.5 vs gt 0 over F = (1, 0.5, 0), B = 0: colour errors 0.5, 0.25, 0 → Charbonnier
    mean (0.5 + 0.25 + 1e-6) / 3."""
    pred, gt = torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, 1, 2, 2)
    foreground = torch.tensor([1.0, 0.5, 0.0])[None, :, None, None].expand(1, 3, 2, 2)
    background = torch.zeros(1, 3, 2, 2)
    assert losses.composition(pred, gt, foreground, background).item() == pytest.approx(
        (0.5 + 0.25 + 1e-6) / 3)


def test_sample_losses_pick_terms_by_data_kind():
    pred, gt, unknown = (x.repeat(1, 1, 32, 32) for x in (PRED, GT, UNKNOWN))  # 64×64
    matting = losses.sample_losses(pred, gt, unknown, segmentation=False)
    assert set(matting) == set(losses.MATTING_TERMS)
    assert matting["unknown_l1"].item() == pytest.approx(0.1875 * 512**2 / 2048)
    segmentation = losses.sample_losses(pred, gt, unknown, segmentation=True)
    assert set(segmentation) == {"known_smooth_l1"}
    colours = torch.zeros(1, 3, 64, 64)
    assert "composition" in losses.sample_losses(pred, gt, unknown, segmentation=False,
                                                 foreground=colours, background=colours)
