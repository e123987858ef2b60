"""Training losses of the official configuration (``LossFunction2``), one sample at a time.

Matting samples: unknown-region ℓ1, known-region ℓ1, Laplacian-pyramid ℓ1 and the Sobel
gradient penalty; segmentation samples: smooth-ℓ1 on the known (confident) region only.  The
region losses are normalised by the region's area the official way: the mean over all pixels
of the masked error times 512² / area (so at 768² a region mean weighs 4/9).  Optional: the
composition loss of Deep Image Matting.  Inputs are [1,1,H,W] tensors; ``unknown`` is a
{0, 1} map of the uncertain band (the trimap's unknown region).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

AREA = 512 * 512  # the official normaliser: losses are "per 512² pixels of the region"
PYRAMID_LEVELS = 5
GRADIENT_SPARSITY = 0.01
COMPOSITION_EPSILON = 1e-6


def _area_scale(region: torch.Tensor) -> torch.Tensor:
    """512² / area of the region (0 for an empty region: the loss then vanishes)."""
    area = region.sum()
    return torch.where(area > 0, AREA / area.clamp(min=1), torch.zeros_like(area))


def unknown_l1(pred: torch.Tensor, gt: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred * unknown, gt * unknown) * _area_scale(unknown)


def known_l1(pred: torch.Tensor, gt: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    known = 1.0 - unknown
    return F.l1_loss(pred * known, gt * known) * _area_scale(known)


def known_smooth_l1(pred: torch.Tensor, gt: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    """Segmentation data: a binary mask is only trusted away from its edges."""
    known = 1.0 - unknown
    return F.smooth_l1_loss(pred * known, gt * known) * _area_scale(known)


def _sobel(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=alpha.dtype,
                     device=alpha.device)
    kernels = torch.stack([x, x.T])[:, None]
    gradients = F.conv2d(alpha, kernels, padding=1)
    return gradients[:, :1], gradients[:, 1:]


def gradient_penalty(pred: torch.Tensor, gt: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    """ℓ1 between Sobel gradients in the unknown region, plus a small penalty on the
    prediction's own gradients there (keeps the band free of noise)."""
    scale = _area_scale(unknown)
    loss = pred.new_zeros(())
    for pred_d, gt_d in zip(_sobel(pred), _sobel(gt)):
        loss = loss + F.l1_loss(pred_d * unknown, gt_d * unknown) * scale
        loss = loss + GRADIENT_SPARSITY * (pred_d * unknown).abs().mean() * scale
    return loss


def _gauss(image: torch.Tensor) -> torch.Tensor:
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=image.dtype, device=image.device) / 16
    kernel = (taps[:, None] * taps[None, :])[None, None]
    return F.conv2d(F.pad(image, (2, 2, 2, 2), mode="reflect"), kernel)


def _laplacian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    pyramid = []
    for _ in range(levels):
        height, width = image.shape[-2:]
        image = image[..., : height - height % 2, : width - width % 2]
        down = _gauss(image)[..., ::2, ::2]
        up = torch.zeros_like(image)
        up[..., ::2, ::2] = down * 4  # zeros in between, the blur fills them
        pyramid.append(image - _gauss(up))
        image = down
    return pyramid


def laplacian(pred: torch.Tensor, gt: torch.Tensor, levels: int = PYRAMID_LEVELS) -> torch.Tensor:
    """Mean over levels of 2^level · ℓ1 between the Laplacian pyramids (whole image)."""
    pyramid = _laplacian_pyramid(torch.cat([pred, gt]), levels)  # both in one pass
    return sum(2**level * F.l1_loss(*both.chunk(2)) for level, both in enumerate(pyramid)) / levels


def composition(pred: torch.Tensor, gt: torch.Tensor, foreground: torch.Tensor,
                background: torch.Tensor) -> torch.Tensor:
    """Deep Image Matting: the picture composited with the predicted vs the true alpha over
    the same foreground and background ([1,3,H,W] in [0, 1]), Charbonnier-ℓ1 per channel."""
    difference = (pred - gt) * (foreground - background)
    return torch.sqrt(difference.square() + COMPOSITION_EPSILON**2).mean()


MATTING_TERMS = ("unknown_l1", "known_l1", "laplacian", "gradient_penalty")
SEGMENTATION_TERMS = ("known_smooth_l1",)
ALL_TERMS = MATTING_TERMS + SEGMENTATION_TERMS + ("composition",)


def sample_losses(pred, gt, unknown, *, segmentation: bool, foreground=None,
                  background=None) -> dict[str, torch.Tensor]:
    """The terms that apply to one sample (unweighted)."""
    if segmentation:
        return {"known_smooth_l1": known_smooth_l1(pred, gt, unknown)}
    terms = {
        "unknown_l1": unknown_l1(pred, gt, unknown),
        "known_l1": known_l1(pred, gt, unknown),
        "laplacian": laplacian(pred, gt),
        "gradient_penalty": gradient_penalty(pred, gt, unknown),
    }
    if foreground is not None:
        terms["composition"] = composition(pred, gt, foreground, background)
    return terms
