# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Soft-argmin disparity regression over a cost-logit volume, with a confidence map."""

from typing import Tuple

import torch
from torch import nn


class DisparityRegression(nn.Module):
    """Softmax over D disparity logits -> expected disparity and peak probability.

    The peak probability is the confidence: a unimodal, sharp distribution means the match is
    unambiguous; flat or multi-modal ones (textureless thermal surfaces) score low.
    """

    def __init__(self, num_disparities: int) -> None:
        """Regress over candidates 0 .. num_disparities - 1 (in the volume's pixel units)."""
        super().__init__()
        self.register_buffer(
            'candidates', torch.arange(num_disparities, dtype=torch.float32).view(1, -1, 1, 1),
            persistent=False)

    def forward(self, logits: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Map BxDxHxW logits to (disparity Bx1xHxW, confidence Bx1xHxW in [0, 1])."""
        prob = torch.softmax(logits.float(), dim=1)
        disparity = (prob * self.candidates).sum(1, keepdim=True)
        confidence = prob.amax(1, keepdim=True)
        return disparity, confidence
