# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""ThermoStereoRT: the real-time student network (encoder, correlation, hourglass, refinement)."""

from typing import Any, Dict, Tuple

import torch
from torch import nn

from thermostereo_ros.model.aggregation import AttentionHourglass
from thermostereo_ros.model.blocks import pad_to_multiple, upsample_disparity
from thermostereo_ros.model.cost_volume import correlation_volume
from thermostereo_ros.model.encoder import PyramidEncoder
from thermostereo_ros.model.refinement import AttentionRefinement
from thermostereo_ros.model.regression import DisparityRegression
from thermostereo_ros.model.sky import SkyHead


class ThermoStereoRT(nn.Module):
    """Real-time thermal stereo network.

    Input: rectified left/right Bx1xHxW in [0, 1], any H, W. In train mode forward returns a
    list of full-resolution disparities, coarse to fine; in eval mode (disparity, confidence).
    """

    # The 2-D hourglass takes the D/4 disparities as input channels, so max_disparity is baked
    # into the weights and cannot be changed at load time.
    disparity_in_weights = True
    # The sub-modules that keep their accuracy in bf16 (docs/history/PERFORMANCE_NOTEBOOK.md,
    # stretch 9): the hourglass and the refinement's feature convolutions, about 60 % of the
    # runtime. The rest stays fp32 under a bf16 backend: the encoder re-reads the pooled image
    # at every scale, and bf16's 8-bit mantissa quantises those intensities (0.5 px of
    # disparity on its own); the regression and upsampling carry disparities, where bf16
    # steps by 1 px above 128.
    bf16_modules = ('aggregation', 'refinement.stem', 'refinement.channel_att',
                    'refinement.spatial_att', 'refinement.body', 'refinement.residual',
                    'refinement.mask')

    def __init__(self, max_disparity: int = 192, base_channels: int = 16,
                 feature_channels: int = 48, aggregation_channels: int = 48,
                 refinement_channels: int = 24, use_refinement: bool = True,
                 normalize_features: bool = False, sky_head: bool = False,
                 shared_filter: int = 0) -> None:
        """Build the network; max_disparity must be a positive multiple of 4."""
        super().__init__()
        if max_disparity < 4 or max_disparity % 4:
            raise ValueError(f'max_disparity must be a positive multiple of 4, '
                             f'got {max_disparity}')
        self.config: Dict[str, Any] = dict(
            max_disparity=int(max_disparity), base_channels=int(base_channels),
            feature_channels=int(feature_channels),
            aggregation_channels=int(aggregation_channels),
            refinement_channels=int(refinement_channels), use_refinement=bool(use_refinement),
            normalize_features=bool(normalize_features), sky_head=bool(sky_head),
            shared_filter=int(shared_filter))
        # Correlation of L2-normalised features (cosine similarity) is informative from the
        # first step; off by default only so that checkpoints from before it load unchanged.
        self.normalize_features = bool(normalize_features)
        self.max_disparity = max_disparity
        self.num_disparities = max_disparity // 4
        self.encoder = PyramidEncoder(base_channels, feature_channels)
        c2, c4, c8, c16 = self.encoder.channels
        self.aggregation = AttentionHourglass(self.num_disparities, aggregation_channels,
                                              (c4, c8, c16), shared_filter)
        self.regression = DisparityRegression(self.num_disparities)
        self.use_refinement = use_refinement
        self.refinement = (AttentionRefinement(c2, refinement_channels, max_disparity)
                           if use_refinement else None)
        # Trained after the rest, on frozen weights (training/sky_head.py); off by default so that
        # checkpoints without it load unchanged.
        self.sky = SkyHead(c4, c16) if sky_head else None

    def forward(self, left: torch.Tensor, right: torch.Tensor,
                return_logits: bool = False) -> Any:
        """Estimate left-view disparity in full-resolution pixels.

        `return_logits` also returns the stem and hourglass 1/4-resolution cost logits, for
        losses on the disparity distribution (in eval mode: a teacher's, for distillation).
        """
        batch = left.shape[0]
        images, height, width = pad_to_multiple(torch.cat([left, right], 0))
        f2, f4, f8, f16 = self.encoder(images)
        f4 = self._matching_features(f4)
        cost = correlation_volume(f4[:batch], f4[batch:], self.num_disparities)
        logits, stem_logits = self.aggregation(cost, f4[:batch], f8[:batch], f16[:batch])
        disp4, conf4 = self.regression(logits)
        if self.refinement is not None:
            image2 = nn.functional.avg_pool2d(images[:batch], 2)
            final = self.refinement(disp4, image2, f2[:batch])
        else:
            final = upsample_disparity(disp4, 4)
        final = final[..., :height, :width]
        if self.training:
            coarse = [upsample_disparity(self.regression(stem_logits)[0], 4),
                      upsample_disparity(disp4, 4)]
            if self.refinement is None:
                coarse = coarse[:1]
            predictions = [d[..., :height, :width] for d in coarse] + [final]
            if return_logits:
                return predictions, [stem_logits, logits]
            return predictions
        outputs = self._outputs(final, conf4, f4[:batch], f16[:batch], images[:batch],
                                height, width)
        return (outputs, [stem_logits, logits]) if return_logits else outputs

    def forward_left_right(self, left: torch.Tensor, right: torch.Tensor
                           ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eval: forward()'s (disparity, confidence), plus the right view's disparity.

        The mirrored pair (right and left flipped and swapped: its left-view disparity is the
        right view's) shares the batch through encoder, correlation, hourglass and
        regression. It skips the refinement, the costliest stage: the left-right check needs
        the right view to about a pixel, not its refined edges.
        """
        batch = left.shape[0]
        lefts = torch.cat([left, right.flip(-1)], 0)
        rights = torch.cat([right, left.flip(-1)], 0)
        images, height, width = pad_to_multiple(torch.cat([lefts, rights], 0))
        f2, f4, f8, f16 = self.encoder(images)
        f4 = self._matching_features(f4)
        views = 2 * batch
        cost = correlation_volume(f4[:views], f4[views:], self.num_disparities)
        logits, _ = self.aggregation(cost, f4[:views], f8[:views], f16[:views])
        disp4, conf4 = self.regression(logits)
        if self.refinement is not None:
            image2 = nn.functional.avg_pool2d(images[:batch], 2)
            final = self.refinement(disp4[:batch], image2, f2[:batch])
        else:
            final = upsample_disparity(disp4[:batch], 4)
        disparity, confidence = self._outputs(final[..., :height, :width], conf4[:batch],
                                              f4[:batch], f16[:batch], images[:batch],
                                              height, width)
        right_view = upsample_disparity(disp4[batch:], 4)[..., :height, :width].flip(-1)
        return disparity, confidence, right_view.clamp(min=0.0)

    def _outputs(self, final: torch.Tensor, conf4: torch.Tensor, f4: torch.Tensor,
                 f16: torch.Tensor, images: torch.Tensor, height: int, width: int
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
        confidence = nn.functional.interpolate(conf4, scale_factor=4, mode='bilinear',
                                               align_corners=False)[..., :height, :width]
        if self.sky is not None:
            # Disparity 0 is "at infinity": every consumer of the output treats it as no depth.
            sky = self._sky_logits(f4, f16, images, height, width) > 0
            final = final.masked_fill(sky, 0.0)
            confidence = confidence.masked_fill(sky, 0.0)
        return final.clamp(min=0.0), confidence.clamp(0.0, 1.0)

    def sky_logits(self, left: torch.Tensor) -> torch.Tensor:
        """Full-resolution sky logits of the left view alone (what the sky head learns from)."""
        if self.sky is None:
            raise ValueError('this network was built without a sky head (sky_head=False)')
        images, height, width = pad_to_multiple(left)
        _, f4, _, f16 = self.encoder(images)
        return self._sky_logits(self._matching_features(f4), f16, images, height, width)

    def _matching_features(self, f4: torch.Tensor) -> torch.Tensor:
        if self.normalize_features:
            return nn.functional.normalize(f4, dim=1) * f4.shape[1] ** 0.5
        return f4

    def _sky_logits(self, f4: torch.Tensor, f16: torch.Tensor, image: torch.Tensor,
                    height: int, width: int) -> torch.Tensor:
        assert self.sky is not None, 'only called where the network has a sky head'
        logits = nn.functional.interpolate(self.sky(f4, f16, image), scale_factor=4,
                                           mode='bilinear', align_corners=False)
        return logits[..., :height, :width]
