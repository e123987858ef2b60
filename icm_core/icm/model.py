"""The trainable ICM decoder (official ``in_context_decoder``): in-context fusion + detail decoder.

:class:`DecoderDims` holds every width; the defaults are the official ``config/eval.yaml``
values at 768² input, tests use tiny ones.  The state_dict keys equal the official checkpoint's
after its ``in_context_decoder.`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .detail import DetailCapture
from .fusion import InContextFusion, TargetFeatures

CHECKPOINT_PREFIX = "in_context_decoder."


@dataclass(frozen=True)
class DecoderDims:
    feature_channels: tuple[int, ...] = (1280, 1280)  # UNet up_blocks[0], [1] output channels
    attention_tokens: tuple[int, ...] = (576, 2304)  # (S/32)², (S/16)²
    attention_out: int = 256
    feature_out: int = 320
    image_channels: int = 3
    convstream_out: tuple[int, ...] = (48, 96, 192)
    fusion_out: tuple[int, ...] = (256, 128, 64, 32)


@dataclass
class DecoderOutput:
    alpha: torch.Tensor  # [B,1,S,S] in (0, 1)
    cross_map: torch.Tensor  # [B,1,h,w]; each sums to its number of reference tokens
    self_map: torch.Tensor  # [B,1,S,S]; visualisation only


class IcmDecoder(nn.Module):
    def __init__(self, dims: DecoderDims = DecoderDims()):
        super().__init__()
        self.dims = dims
        self.in_context_fusion = InContextFusion(
            dims.feature_channels, dims.attention_tokens, dims.attention_out, dims.feature_out
        )
        self.detail_decoder = DetailCapture(
            dims.feature_out, dims.image_channels, dims.convstream_out, dims.fusion_out
        )

    def forward(
        self, tokens: torch.Tensor, target: TargetFeatures, image: torch.Tensor
    ) -> DecoderOutput:
        """``tokens`` [K,C] reference tokens (or one such tensor per batch entry), ``target``
        the target's features, ``image`` [B,3,S,S] in [-1, 1]."""
        fused, cross_map, intra_maps = self.in_context_fusion(tokens, target)
        alpha = self.detail_decoder(fused, image)
        size = image.shape[-2:]
        self_map = torch.stack(
            [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in intra_maps]
        ).mean(dim=0)
        return DecoderOutput(alpha, cross_map, self_map)
