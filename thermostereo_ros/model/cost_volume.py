# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Stereo cost volumes: correlation (student), group-wise correlation and concatenation (teacher).

Each volume is a stack over disparity of the left features against the right features
shifted right by d (zero padding where x - d < 0). Stacking per-disparity slices of one padded
tensor traces to a fixed graph for ONNX/TensorRT, and avoids an in-place write loop that
autograd and exporters handle poorly.
"""

from typing import List

import torch
import torch.nn.functional as F


def shifted_views(right: torch.Tensor, num_disparities: int) -> List[torch.Tensor]:
    """Return [R(x - d, y) for d in range(num_disparities)], zero where x - d < 0."""
    width = right.shape[-1]
    padded = F.pad(right, (num_disparities - 1, 0, 0, 0))
    start = num_disparities - 1
    return [padded[..., start - d:start - d + width] for d in range(num_disparities)]


def correlation_volume(left: torch.Tensor, right: torch.Tensor,
                       num_disparities: int) -> torch.Tensor:
    """C(d, x, y) = <F_L(x, y), F_R(x - d, y)> / N_c as a BxDxHxW tensor.

    Computed per image row as one matrix product against the right features padded by D - 1
    zeros, M[x, j] = <F_L(x), F_R(j - D + 1)>, from which C(d, x) = M[x, x + D - 1 - d] is cut
    out by reading M with a row stride one longer (the diagonal-band trick). The same volume
    as a stack of D shifted products (to rounding; the test compares it with the definition),
    without D slices, products and channel means, which made the whole network measurably
    faster under OpenVINO (docs/history/PERFORMANCE_NOTEBOOK.md, stretch 5).
    """
    b, c, h, w = left.shape
    k = w + num_disparities - 1
    rows = torch.matmul(left.permute(0, 2, 3, 1).reshape(b * h, w, c),
                        F.pad(right, (num_disparities - 1, 0)).permute(0, 2, 1, 3)
                        .reshape(b * h, c, k)) / c
    # Row x of the flattened M, read with stride k + 1, starts at M[x, x]: column D - 1 - d
    # of that view is M[x, x + D - 1 - d]. The w padded values are never read.
    skewed = F.pad(rows.reshape(b * h, w * k), (0, w)).reshape(b * h, w, k + 1)
    band = skewed[:, :, :num_disparities].flip(-1)
    return band.reshape(b, h, w, num_disparities).permute(0, 3, 1, 2)


def groupwise_correlation_volume(left: torch.Tensor, right: torch.Tensor,
                                 num_disparities: int, groups: int) -> torch.Tensor:
    """Group-wise correlation: channels split in `groups`; returns BxGxDxHxW."""
    b, c, h, w = left.shape
    if c % groups:
        raise ValueError(f'{c} feature channels cannot be split into {groups} groups')
    left_g = left.reshape(b, groups, c // groups, h, w)
    return torch.stack(
        [(left_g * r.reshape(b, groups, c // groups, h, w)).mean(2)
         for r in shifted_views(right, num_disparities)], 2)


def concat_volume(left: torch.Tensor, right: torch.Tensor,
                  num_disparities: int) -> torch.Tensor:
    """Concatenation volume [F_L(x, y); F_R(x - d, y)] as Bx2CxDxHxW."""
    return torch.stack([torch.cat([left, r], 1)
                        for r in shifted_views(right, num_disparities)], 2)
