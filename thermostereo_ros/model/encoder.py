# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Shallow pyramid encoder: features at 1/2, 1/4, 1/8 and 1/16 of the (padded) input."""

from typing import List, Optional, Tuple

import torch
from torch import nn
import torch.nn.functional as F

from thermostereo_ros.model.blocks import conv_bn_relu


def image_pyramid(image: torch.Tensor, levels: int = 5) -> List[torch.Tensor]:
    """Average-pooled pyramid P_s for s = 1, 2, 4, 8, 16 (each level halves the previous)."""
    pyramid = [image]
    for _ in range(levels - 1):
        pyramid.append(F.avg_pool2d(pyramid[-1], 2))
    return pyramid


class PyramidEncoder(nn.Module):
    """Shallow encoder that re-injects the pooled image at every scale.

    Thermal images are low in texture and high in noise, so a deep backbone buys little; the
    pooled intensities P_s are concatenated back in at each level so coarse features keep the
    raw (denoised by pooling) signal. Returns (F_2, F_4, F_8, F_16).
    """

    def __init__(self, base_channels: int = 16, feature_channels: int = 32,
                 coarse_levels: bool = True) -> None:
        """Build the encoder; F_4 has `feature_channels` (N_c) channels.

        With `coarse_levels=False` (the teacher) F_8 and F_16 are neither built nor returned
        (None in their place).
        """
        super().__init__()
        c = base_channels
        self.stage2 = nn.Sequential(conv_bn_relu(1, c, 3, 2), conv_bn_relu(c, c))
        self.stage4 = nn.Sequential(conv_bn_relu(c + 1, 2 * c, 3, 2),
                                    conv_bn_relu(2 * c, 2 * c))
        self.head4 = nn.Sequential(conv_bn_relu(2 * c + 1, feature_channels),
                                   nn.Conv2d(feature_channels, feature_channels, 1))
        self.coarse_levels = coarse_levels
        if coarse_levels:
            self.stage8 = conv_bn_relu(feature_channels, 2 * c, 3, 2)
            self.head8 = conv_bn_relu(2 * c + 1, 2 * c)
            self.stage16 = conv_bn_relu(2 * c, 4 * c, 3, 2)
            self.head16 = conv_bn_relu(4 * c + 1, 4 * c)
        self.channels = (c, feature_channels, 2 * c, 4 * c)

    def forward(self, image: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor],
                           Optional[torch.Tensor]]:
        """Encode a Bx1xHxW batch (H, W multiples of 16)."""
        p1, p2, p4, p8, p16 = image_pyramid(image)
        f2 = self.stage2(p1)
        f4 = self.head4(torch.cat([self.stage4(torch.cat([f2, p2], 1)), p4], 1))
        if not self.coarse_levels:
            return f2, f4, None, None
        f8 = self.head8(torch.cat([self.stage8(f4), p8], 1))
        f16 = self.head16(torch.cat([self.stage16(f8), p16], 1))
        return f2, f4, f8, f16
