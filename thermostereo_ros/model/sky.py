# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Sky head: where the left view sees no surface at all, so that no depth is published there.

Thermal sky is cold and nearly uniform: there is nothing to match, and the correlation volume
finds spurious matches in it, which become phantom points a few tens of metres away (about a
third of the sky pixels of the validation pairs, docs/RESULTS.md). Whether a pixel is sky is a
question of the whole scene rather than of a match, so the head reads the left image over a
wide context, and the left view's 1/16 and 1/4 features, and gives one logit per 1/4 pixel.
"""

import torch
from torch import nn
import torch.nn.functional as F

from thermostereo_ros.model.blocks import conv_bn_relu


class SkyHead(nn.Module):
    """1/4-resolution sky logits from the left image and its 1/4 and 1/16 features."""

    def __init__(self, channels4: int, channels16: int, width: int = 16) -> None:
        """Map (F_4, F_16, image) to one logit map; F_4 and F_16 have the given channels."""
        super().__init__()
        # The matching features were not trained to tell sky from a distant wall; the image
        # itself (cold, smooth, wide) does, read at 1/8 with dilations that span the frame.
        # Its 16-channel 3x3 convolutions run at 1/8 or coarser: 1.6 % of the network's FLOPs,
        # 3-6 % of its time on a 2-core CPU (docs/history/PERFORMANCE_NOTEBOOK.md).
        self.image = nn.Sequential(conv_bn_relu(1, width), conv_bn_relu(width, width),
                                   conv_bn_relu(width, width, dilation=2),
                                   conv_bn_relu(width, width, dilation=4),
                                   conv_bn_relu(width, width, dilation=8))
        self.context = conv_bn_relu(channels16, width)
        self.scene = nn.Conv2d(width, width, 1)  # the frame as a whole (e.g. night or day)
        self.mix = conv_bn_relu(width, width)
        self.local = conv_bn_relu(channels4, width, kernel=1)
        self.logit = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, f4: torch.Tensor, f16: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Return Bx1xH/4xW/4 logits, positive where the pixel is sky, for a Bx1xHxW image."""
        wide = self.image(F.avg_pool2d(image, 8))
        wide = wide + F.interpolate(self.context(f16), size=wide.shape[-2:], mode='bilinear',
                                    align_corners=False)
        wide = self.mix(wide + self.scene(wide.mean((2, 3), keepdim=True)))
        wide = F.interpolate(wide, size=f4.shape[-2:], mode='bilinear', align_corners=False)
        return self.logit(torch.relu(self.local(f4) + wide))
