"""The detail decoder (ViTMatte-style "DetailCapture"): fuses the in-context feature with a
shallow convolution stream of the target image and predicts alpha at the input resolution.

Module and attribute names follow the official checkpoint (``convstream.convs.0.conv.weight``,
``fusion_blks.3.conv.bn.running_var``, ``matting_head.matting_convs.3.bias`` …).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ConvBnRelu(nn.Sequential):
    """3×3 convolution without bias, BatchNorm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)


class FusionBlock(nn.Module):
    """Upsample the running feature ×2, concatenate the finer ``detail`` first, convolve."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = ConvBnRelu(in_channels, out_channels)

    def forward(self, feature: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(feature, scale_factor=2, mode="bilinear", align_corners=False)
        return self.conv(torch.cat([detail, up], dim=1))


class ConvStream(nn.Module):
    """Stride-2 convolutions over the image; returns the image and every level, finest first."""

    def __init__(self, in_channels: int, out_channels: Sequence[int]):
        super().__init__()
        widths = [in_channels, *out_channels]
        self.convs = nn.ModuleList(
            ConvBnRelu(widths[i], widths[i + 1], stride=2) for i in range(len(out_channels))
        )

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        levels = [image]
        for conv in self.convs:
            levels.append(conv(levels[-1]))
        return levels


class MattingHead(nn.Module):
    def __init__(self, in_channels: int, hidden: int = 16):
        super().__init__()
        self.matting_convs = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return self.matting_convs(feature)


class DetailCapture(nn.Module):
    """in-context feature at 1/16 of the image + the image → alpha logits' sigmoid.

    The channel widths are parameters (official values as defaults) so that tests can build a
    tiny decoder.  The number of fusion blocks must equal the number of stream levels + 1.
    """

    def __init__(
        self,
        in_channels: int = 320,
        image_channels: int = 3,
        convstream_out: Sequence[int] = (48, 96, 192),
        fusion_out: Sequence[int] = (256, 128, 64, 32),
    ):
        super().__init__()
        if len(fusion_out) != len(convstream_out) + 1:
            raise ValueError("fusion_out needs one block per stream level plus the image")
        self.convstream = ConvStream(image_channels, convstream_out)
        details = [*reversed(convstream_out), image_channels]  # coarsest stream level first
        inputs = [in_channels, *fusion_out[:-1]]
        self.fusion_blks = nn.ModuleList(
            FusionBlock(inputs[i] + details[i], fusion_out[i]) for i in range(len(fusion_out))
        )
        self.matting_head = MattingHead(fusion_out[-1])

    def forward(self, feature: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        levels = self.convstream(image)
        for block, detail in zip(self.fusion_blks, reversed(levels)):
            feature = block(feature, detail)
        return torch.sigmoid(self.matting_head(feature))
