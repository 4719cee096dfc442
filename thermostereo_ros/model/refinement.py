# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Attention refinement: channel + spatial attention, residual disparity, convex upsampling."""

import torch
from torch import nn
import torch.nn.functional as F

from thermostereo_ros.model.blocks import conv_bn_relu, upsample_disparity


class ChannelAttention(nn.Module):
    """Channel attention from average- and max-pooled descriptors through one shared MLP."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        """Build the shared MLP (channels -> channels/reduction -> channels)."""
        super().__init__()
        # A floor on the hidden width: a 1-unit ReLU bottleneck easily dies for narrow nets.
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x scaled by sigmoid(MLP(avgpool x) + MLP(maxpool x))."""
        avg = x.mean((2, 3), keepdim=True)
        mx = x.amax((2, 3), keepdim=True)
        return x * torch.sigmoid(self.mlp(avg) + self.mlp(mx))


class SpatialAttention(nn.Module):
    """Spatial attention: 7x7 conv over the per-pixel channel mean and max."""

    def __init__(self, kernel: int = 7) -> None:
        """Build the 2 -> 1 channel attention convolution."""
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x scaled by sigmoid(conv([mean_c x; max_c x]))."""
        desc = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.conv(desc))


def convex_upsample(disparity: torch.Tensor, mask: torch.Tensor, factor: int) -> torch.Tensor:
    """Upsample Bx1xHxW by `factor` as a learned convex combination of each 3x3 neighbourhood.

    `mask` is Bx(9*factor^2)xHxW logits. Values are rescaled to the fine pixel grid. A convex
    combination never leaves the range of its inputs, so edges stay sharp and non-negative
    disparities stay non-negative (unlike bilinear smearing across depth discontinuities).
    """
    b, _, h, w = disparity.shape
    weights = torch.softmax(mask.reshape(b, 9, factor * factor, h, w), dim=1)
    padded = F.pad(disparity * factor, (1, 1, 1, 1), mode='replicate')
    # Nine slices and a stack: no slower than one F.unfold on the CPU, and it exports to plain
    # ONNX slices.
    neighbours = torch.stack([padded[:, 0, dy:dy + h, dx:dx + w]
                              for dy in range(3) for dx in range(3)], 1)
    fine = (weights * neighbours.unsqueeze(2)).sum(1)
    return F.pixel_shuffle(fine, factor)


class AttentionRefinement(nn.Module):
    """Refine a 1/4-resolution disparity at 1/2 resolution and convex-upsample it to full.

    Input features: the 2x-upsampled disparity (scaled to ~[0, 1]), the left image at 1/2
    and the encoder's 1/2 left features. Channel and spatial attention pick out where the
    coarse estimate disagrees with image structure; a residual is added and the result is
    upsampled x2 with learned convex weights.
    """

    def __init__(self, guide_channels: int, channels: int = 16,
                 max_disparity: int = 192) -> None:
        """Build the refinement head over `guide_channels` 1/2-resolution left features."""
        super().__init__()
        self.scale = 2.0 / max_disparity
        self.stem = nn.Sequential(conv_bn_relu(guide_channels + 2, channels),
                                  conv_bn_relu(channels, channels))
        self.channel_att = ChannelAttention(channels)
        self.spatial_att = SpatialAttention()
        self.body = nn.Sequential(conv_bn_relu(channels, channels, dilation=2),
                                  conv_bn_relu(channels, channels))
        self.residual = nn.Conv2d(channels, 1, 3, 1, 1)
        self.mask = nn.Conv2d(channels, 9 * 4, 1)
        # Start as the identity refinement so early training sees the coarse estimate intact.
        nn.init.zeros_(self.residual.weight)
        nn.init.zeros_(self.residual.bias)  # type: ignore[arg-type]  # built with a bias

    def forward(self, disparity4: torch.Tensor, image2: torch.Tensor,
                features2: torch.Tensor) -> torch.Tensor:
        """Return the full-resolution disparity (Bx1x4Hx4W, full-res pixels, >= 0)."""
        disp2 = upsample_disparity(disparity4, 2)
        x = self.stem(torch.cat([disp2 * self.scale, image2, features2], 1))
        x = self.body(self.spatial_att(self.channel_att(x)))
        disp2 = F.relu(disp2 + self.residual(x))
        return F.relu(convex_upsample(disp2, self.mask(x), 2))
