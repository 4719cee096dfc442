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
        """Map BxDxHxW logits to (disparity Bx1xHxW, confidence Bx1xHxW in [0, 1]).

        The softmax written out: with e = exp(logits - max), the expected disparity is
        sum(e * d) / sum(e) and the peak probability is exactly 1 / sum(e). The same numbers
        as softmax (within 2e-5 px), but OpenVINO's CPU plugin keeps these element-wise ops
        and channel sums in its blocked layout, where a Softmax over channels first converts
        the whole volume back to planar (a reorder of the whole volume per pair). Safe in
        fp16 too: the peak term is exp(0) = 1, so the sum is at least 1.
        """
        logits = logits.float()
        weights = torch.exp(logits - logits.amax(1, keepdim=True))
        total = weights.sum(1, keepdim=True)
        candidates = self.get_buffer('candidates')
        disparity = (weights * candidates).sum(1, keepdim=True) / total
        return disparity, 1.0 / total
