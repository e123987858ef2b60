"""In-context fusion: where is the reference's subject in the target (inter-similarity), spread
inside the target by its own self-attention (intra-similarity), fused with the matting features.

Names follow the official checkpoint (``in_context_fusion.attn_module.norm``,
``attn_module_list.{i}.ln/conv``, ``ft_module_list``, ``ft_attn_module_list``,
``fusion.module_list.0``).  Index ``i`` runs over the scales coarsest first (official '24', '48').
Nothing here modifies its inputs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..api import IcmWarning
from .detail import ConvBnRelu, FusionBlock


@dataclass(frozen=True)
class TargetFeatures:
    """What one target pass of the extractor yields (batch first).

    ``correspondence``: [B,C,h,w] feature matched against the reference tokens.
    ``attention``: per scale, coarsest first, [B,r,r,r²] self-attention (row = query pixel).
    ``matting``: per scale, coarsest first, [B,C_i,r,r] features for the decoder.
    """

    correspondence: torch.Tensor
    attention: tuple[torch.Tensor, ...]
    matting: tuple[torch.Tensor, ...]


def pooled_mask(mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Binarise ``mask`` [B,1,H,W] (> 0.5) and min-pool it to ``grid``: a cell is 1 only when
    every pixel of its patch is inside the mask (the official rule)."""
    kernel = (mask.shape[-2] // grid[0], mask.shape[-1] // grid[1])
    binary = (mask > 0.5).to(mask.dtype)
    return -F.max_pool2d(-binary, kernel, kernel)


def coverage(mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Fraction of each grid cell's pixels inside the binarised ``mask``."""
    kernel = (mask.shape[-2] // grid[0], mask.shape[-1] // grid[1])
    return F.avg_pool2d((mask > 0.5).to(mask.dtype), kernel, kernel)


def reference_tokens(
    feature: torch.Tensor, mask: torch.Tensor, *, partial_fallback: bool = True
) -> torch.Tensor:
    """The reference feature vectors [K,C] of the cells fully inside the mask (row-major).

    ``feature`` is [1,C,h,w], ``mask`` [1,1,H,W] with H, W multiples of h, w.  When no cell is
    fully covered (thin or scribbled masks) the official model silently runs with K = 0, i.e.
    without guidance; with ``partial_fallback`` we instead take the cells at least half covered,
    or failing that the best-covered ones, and warn.
    """
    grid = feature.shape[-2:]
    selected = pooled_mask(mask, grid)[0, 0] > 0.5
    if not selected.any() and partial_fallback:
        cover = coverage(mask, grid)[0, 0]
        best = cover.max()
        selected = cover >= 0.5 if best >= 0.5 else (cover >= best) & (best > 0)
        warnings.warn(
            f"No {mask.shape[-1] // grid[1]}-pixel patch of the reference is completely inside "
            f"the mask; using {int(selected.sum())} partly covered patches instead. Brush a "
            "wider mask over the subject for better guidance.",
            IcmWarning,
            stacklevel=2,
        )
    return rearrange(feature[0], "c h w -> (h w) c")[selected.flatten()]


class InterSimilarity(nn.Module):
    """How much each target position looks like each reference token, summed over tokens."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``tokens`` [K,C], ``target`` [1,C,h,w] → [1,1,h,w]; K = 0 gives zeros (official)."""
        height, width = target.shape[-2:]
        keys = self.norm(rearrange(target[0], "c h w -> (h w) c"))
        queries = self.norm(tokens)
        logits = queries @ keys.T * queries.shape[-1] ** -0.5
        similarity = logits.softmax(dim=-1).sum(dim=0)  # softmax over target positions
        return similarity.reshape(1, 1, height, width)


class IntraSimilarity(nn.Module):
    """Weight each query's self-attention row by the inter-similarity at its keys, then
    LayerNorm over the keys → ReLU → 3×3 conv (keys become channels)."""

    def __init__(self, tokens: int, out_channels: int):
        super().__init__()
        self.ln = nn.LayerNorm(tokens)
        self.conv = nn.Conv2d(tokens, out_channels, 3, padding=1, bias=False)

    def forward(self, attention: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        """``attention`` [B,r,r,r²], ``similarity`` [B,1,r,r] → [B,out,r,r]."""
        weighted = attention * rearrange(similarity, "b 1 h w -> b 1 1 (h w)")
        return self.conv(F.relu(rearrange(self.ln(weighted), "b h w k -> b k h w")))


class MultiScaleFusion(nn.Module):
    """Coarse-to-fine: upsample the running feature and fuse it with the next finer scale."""

    def __init__(self, in_channels: Sequence[int], out_channels: int):
        super().__init__()
        running = [in_channels[0]] + [out_channels] * (len(in_channels) - 2)
        self.module_list = nn.ModuleList(
            FusionBlock(finer + coarser, out_channels)
            for finer, coarser in zip(in_channels[1:], running)
        )

    def forward(self, scales: Sequence[torch.Tensor]) -> torch.Tensor:
        fused = scales[0]
        for block, finer in zip(self.module_list, scales[1:]):
            fused = block(fused, finer)
        return fused


class InContextFusion(nn.Module):
    """Reference tokens + target features → the feature given to the detail decoder.

    ``feature_channels``: channels of the matting features per scale (official 1280, 1280);
    ``attention_tokens``: r² per scale (official 576, 2304 at 768² input); the last feature
    scale's channels are also the correspondence feature's (LayerNorm size).
    """

    def __init__(
        self,
        feature_channels: Sequence[int] = (1280, 1280),
        attention_tokens: Sequence[int] = (576, 2304),
        attention_out: int = 256,
        feature_out: int = 320,
    ):
        super().__init__()
        self.attn_module = InterSimilarity(feature_channels[-1])
        self.attn_module_list = nn.ModuleList(
            IntraSimilarity(tokens, attention_out) for tokens in attention_tokens
        )
        self.ft_module_list = nn.ModuleList(ConvBnRelu(c, feature_out) for c in feature_channels)
        self.ft_attn_module_list = nn.ModuleList(
            ConvBnRelu(feature_out + attention_out, feature_out) for _ in feature_channels
        )
        self.fusion = MultiScaleFusion([feature_out] * len(feature_channels), feature_out)

    def forward(
        self, tokens: torch.Tensor | Sequence[torch.Tensor], target: TargetFeatures
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Returns the fused feature [B,C,h,w], the cross_map [B,1,h,w] and, per scale, the
        channel mean of the intra-similarity output (for visualisation).  ``tokens`` is one
        [K,C] tensor for a batch of one, or one per batch entry (training)."""
        if isinstance(tokens, torch.Tensor):
            tokens = [tokens]
        cross_map = torch.cat([self.attn_module(own, target.correspondence[i : i + 1])
                               for i, own in enumerate(tokens)])
        scales, intra_maps = [], []
        for i, (attention, matting) in enumerate(zip(target.attention, target.matting)):
            similarity = F.interpolate(
                cross_map, size=attention.shape[1:3], mode="bilinear", align_corners=True
            )
            intra = self.attn_module_list[i](attention, similarity)
            projected = self.ft_module_list[i](matting)
            scales.append(self.ft_attn_module_list[i](torch.cat([projected, intra], dim=1)))
            intra_maps.append(intra.mean(dim=1, keepdim=True))
        return self.fusion(scales), cross_map, intra_maps
