# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Multi-scale attention cost aggregation: a 2-D hourglass guided by left-image features.

Disparity is carried as channels (2-D convolutions over a BxDxHxW volume) rather than as a
third spatial axis: on the 2-core CPU target 3-D convolutions were several times slower for
the same receptive field (see docs/ARCHITECTURE.md).
"""

from typing import Optional, Tuple

import torch
from torch import nn
import torch.nn.functional as F

from thermostereo_ros.model.blocks import conv_bn_relu
from thermostereo_ros.model.shared_cost import DisparitySharedFilter


class FeatureExcitation(nn.Module):
    """Gate cost features with weights predicted from left-image features.

    sigmoid(conv1x1(F_s)) gives a per-pixel, per-channel weight, so image structure (edges,
    object boundaries) decides where cost evidence is kept or suppressed.
    """

    def __init__(self, cost_channels: int, feature_channels: int) -> None:
        """Map `feature_channels` guide channels to `cost_channels` gates."""
        super().__init__()
        self.gate = nn.Sequential(
            nn.Conv2d(feature_channels, feature_channels, 1, bias=False),
            nn.BatchNorm2d(feature_channels), nn.ReLU(inplace=True),
            nn.Conv2d(feature_channels, cost_channels, 1))

    def forward(self, cost: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Return cost * sigmoid(gate(features))."""
        return cost * torch.sigmoid(self.gate(features))


class AttentionHourglass(nn.Module):
    """Hourglass over 1/4, 1/8 and 1/16 with feature-guided excitation at every level.

    `forward` returns (refined logits, first-stage logits); the first-stage logits feed deep
    supervision during training.
    """

    def __init__(self, num_disparities: int, channels: int, feature_channels: tuple,
                 shared_filter: int = 0) -> None:
        """Aggregate a `num_disparities`-channel volume; `feature_channels` = (F_4, F_8, F_16).

        `shared_filter` > 0 adds a disparity-shared filter of that many channels to the
        residual path (model/shared_cost.py); 0 leaves it out.
        """
        super().__init__()
        a = channels
        f4, f8, f16 = feature_channels
        self.stem = nn.Sequential(conv_bn_relu(num_disparities, a), conv_bn_relu(a, a))
        self.exc4_in = FeatureExcitation(a, f4)
        self.down8 = nn.Sequential(conv_bn_relu(a, 2 * a, 3, 2), conv_bn_relu(2 * a, 2 * a))
        self.exc8_in = FeatureExcitation(2 * a, f8)
        self.down16 = nn.Sequential(conv_bn_relu(2 * a, 4 * a, 3, 2),
                                    conv_bn_relu(4 * a, 4 * a))
        self.exc16 = FeatureExcitation(4 * a, f16)
        self.up8 = conv_bn_relu(4 * a, 2 * a)
        self.fuse8 = conv_bn_relu(2 * a, 2 * a)
        self.exc8_out = FeatureExcitation(2 * a, f8)
        self.up4 = conv_bn_relu(2 * a, a)
        self.fuse4 = conv_bn_relu(a, a)
        self.exc4_out = FeatureExcitation(a, f4)
        self.head = nn.Conv2d(a, num_disparities, 3, 1, 1)
        self.stem_head = nn.Conv2d(a, num_disparities, 3, 1, 1)
        self.shared = DisparitySharedFilter(f4, shared_filter) if shared_filter else None

    def forward(self, cost: torch.Tensor, f4: torch.Tensor, f8: torch.Tensor,
                f16: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Aggregate a BxDxH/4xW/4 volume; returns (logits, stem logits or None in eval)."""
        x4 = self.exc4_in(self.stem(cost), f4)
        x8 = self.exc8_in(self.down8(x4), f8)
        x16 = self.exc16(self.down16(x8), f16)
        y8 = self.up8(F.interpolate(x16, scale_factor=2, mode='bilinear', align_corners=False))
        y8 = self.exc8_out(self.fuse8(y8 + x8), f8)
        y4 = self.up4(F.interpolate(y8, scale_factor=2, mode='bilinear', align_corners=False))
        y4 = self.exc4_out(self.fuse4(y4 + x4), f4)
        # The residual to the raw correlation keeps the matching signal when the hourglass is
        # still untrained and shortens the gradient path to the encoder.
        residual = cost if self.shared is None else cost + self.shared(cost, f4)
        logits = self.head(y4) + residual
        stem_logits = self.stem_head(x4) + residual if self.training else None
        return logits, stem_logits
