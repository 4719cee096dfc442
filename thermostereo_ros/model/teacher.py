# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Dense teacher: group-wise correlation + concatenation volume and a 3-D hourglass at 1/4.

Used only to produce pseudo-labels / distillation targets in training; it shares the
student's interface (constructor keywords, train/eval outputs, padding) so the trainer and
the engine treat both alike.
"""

from typing import Any, Dict

import torch
from torch import nn
import torch.nn.functional as F

from thermostereo_ros.model.blocks import (
    conv3d_bn_relu, conv_bn_relu, pad_to_multiple, upsample_disparity)
from thermostereo_ros.model.cost_volume import concat_volume, groupwise_correlation_volume
from thermostereo_ros.model.encoder import PyramidEncoder
from thermostereo_ros.model.refinement import AttentionRefinement
from thermostereo_ros.model.regression import DisparityRegression


class Hourglass3D(nn.Module):
    """3-D hourglass over (disparity, y, x), two stride-2 levels; returns same-size output."""

    def __init__(self, channels: int) -> None:
        """Build an hourglass with `channels` at full volume resolution."""
        super().__init__()
        v = channels
        self.down1 = nn.Sequential(conv3d_bn_relu(v, 2 * v, 2), conv3d_bn_relu(2 * v, 2 * v))
        self.down2 = nn.Sequential(conv3d_bn_relu(2 * v, 4 * v, 2),
                                   conv3d_bn_relu(4 * v, 4 * v))
        self.up1 = conv3d_bn_relu(4 * v, 2 * v)
        self.up0 = conv3d_bn_relu(2 * v, v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Aggregate a BxVxDxHxW volume (D, H, W divisible by 4)."""
        d1 = self.down1(x)
        d2 = self.down2(d1)
        u1 = self.up1(F.interpolate(d2, scale_factor=2, mode='trilinear',
                                    align_corners=False)) + d1
        return self.up0(F.interpolate(u1, scale_factor=2, mode='trilinear',
                                      align_corners=False)) + x


class ThermoStereoTeacher(nn.Module):
    """Heavier dense network with the ThermoStereoRT interface (training only)."""

    # 3-D convolutions slide over the disparity axis, so the weights do not depend on the
    # number of disparities: max_disparity may be changed when loading.
    disparity_in_weights = False

    def __init__(self, max_disparity: int = 192, base_channels: int = 32,
                 feature_channels: int = 64, groups: int = 8, concat_channels: int = 12,
                 volume_channels: int = 32, refinement_channels: int = 32,
                 use_refinement: bool = True) -> None:
        """Build the teacher; max_disparity must be a positive multiple of 16."""
        super().__init__()
        if max_disparity < 16 or max_disparity % 16:
            raise ValueError(f'teacher max_disparity must be a positive multiple of 16, '
                             f'got {max_disparity}')
        self.config: Dict[str, Any] = dict(
            max_disparity=int(max_disparity), base_channels=int(base_channels),
            feature_channels=int(feature_channels), groups=int(groups),
            concat_channels=int(concat_channels), volume_channels=int(volume_channels),
            refinement_channels=int(refinement_channels), use_refinement=bool(use_refinement))
        self.max_disparity = max_disparity
        self.num_disparities = max_disparity // 4
        self.groups = groups
        self.encoder = PyramidEncoder(base_channels, feature_channels, coarse_levels=False)
        c2 = self.encoder.channels[0]
        self.concat_proj = nn.Sequential(conv_bn_relu(feature_channels, concat_channels),
                                         nn.Conv2d(concat_channels, concat_channels, 1))
        v = volume_channels
        self.stem = nn.Sequential(conv3d_bn_relu(groups + 2 * concat_channels, v),
                                  conv3d_bn_relu(v, v))
        self.hourglass1 = Hourglass3D(v)
        self.hourglass2 = Hourglass3D(v)
        self.heads = nn.ModuleList([nn.Conv3d(v, 1, 3, 1, 1) for _ in range(3)])
        self.regression = DisparityRegression(self.num_disparities)
        self.use_refinement = use_refinement
        self.refinement = (AttentionRefinement(c2, refinement_channels, max_disparity)
                           if use_refinement else None)

    def forward(self, left: torch.Tensor, right: torch.Tensor,
                return_logits: bool = False) -> Any:
        """Estimate left-view disparity; outputs as ThermoStereoRT.forward.

        `return_logits` also returns the final 1/4-resolution cost logits (a one-item list).
        """
        batch = left.shape[0]
        images, height, width = pad_to_multiple(torch.cat([left, right], 0))
        f2, f4, _, _ = self.encoder(images)
        proj = self.concat_proj(f4)
        d = self.num_disparities
        volume = torch.cat([
            groupwise_correlation_volume(f4[:batch], f4[batch:], d, self.groups),
            concat_volume(proj[:batch], proj[batch:], d)], 1)
        x0 = self.stem(volume)
        x1 = self.hourglass1(x0)
        x2 = self.hourglass2(x1)
        logits = self.heads[2](x2).squeeze(1)
        disp4, conf4 = self.regression(logits)
        if self.refinement is not None:
            image2 = F.avg_pool2d(images[:batch], 2)
            final = self.refinement(disp4, image2, f2[:batch])
        else:
            final = upsample_disparity(disp4, 4)
        final = final[..., :height, :width]
        if self.training:
            coarse = [upsample_disparity(self.regression(self.heads[i](x).squeeze(1))[0], 4)
                      for i, x in ((0, x0), (1, x1))]
            if self.refinement is not None:
                coarse.append(upsample_disparity(disp4, 4))
            predictions = [c[..., :height, :width] for c in coarse] + [final]
            return (predictions, [logits]) if return_logits else predictions
        confidence = F.interpolate(conf4, scale_factor=4, mode='bilinear', align_corners=False)
        outputs = final.clamp(min=0.0), confidence[..., :height, :width].clamp(0.0, 1.0)
        return (outputs, [logits]) if return_logits else outputs
