# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Disparity-shared cost filtering: the same small 2-D network applied to every disparity slice.

The hourglass carries disparity as channels, so each disparity bin has weights of its own,
and bins rare in training learn a prior instead of matching (docs/TRAINING.md, "Where the
disparity range ends", measures it). This filter sees one slice at a time, with left-image
guidance, and cannot know which disparity it is filtering: whatever it learns holds at 150 px
as at 15 px. It is a depth-1 3-D convolution in effect, without 3-D convolutions' CPU cost.
"""

import torch
from torch import nn
import torch.nn.functional as F


class DisparitySharedFilter(nn.Module):
    """Residual cost logits from a guided, disparity-shared filter over each cost slice.

    The last convolution starts at zero, so adding the filter to a trained network leaves
    its output unchanged until training moves it.
    """

    def __init__(self, guide_channels: int, hidden: int = 8) -> None:
        """Filter slices with `hidden` channels, guided by `guide_channels` left features."""
        super().__init__()
        self.hidden = hidden
        self.guide = nn.Conv2d(guide_channels, hidden, 1)
        self.cost_in = nn.Conv2d(1, hidden, 3, 1, 1, bias=False)
        self.body = nn.Conv2d(hidden, hidden, 3, 1, 2, dilation=2)
        self.out = nn.Conv2d(hidden, 1, 3, 1, 1)
        for parameter in self.out.parameters():
            nn.init.zeros_(parameter)

    def forward(self, cost: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Map a BxDxHxW volume and BxCxHxW guide features to BxDxHxW logits."""
        b, d, h, w = cost.shape
        # conv([slice; guide]) = conv(slice) + conv(guide): the guide's term is computed once
        # per image and broadcast over the D slices instead of being copied D times.
        x = self.cost_in(cost.reshape(b * d, 1, h, w)).reshape(b, d, self.hidden, h, w)
        x = F.relu(x + self.guide(features).unsqueeze(1)).reshape(b * d, self.hidden, h, w)
        x = F.relu(self.body(x))
        return self.out(x).reshape(b, d, h, w)
