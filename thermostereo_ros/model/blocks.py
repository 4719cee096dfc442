# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Small building blocks shared by the networks: conv-BN-ReLU units and pad/crop helpers."""

from typing import Tuple

import torch
from torch import nn
import torch.nn.functional as F

# Every network downsamples five times at most (1/32 in the hourglasses' deepest level), so
# inputs are padded to a multiple of 32 and cropped back.
PAD_MULTIPLE = 32


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1,
                 dilation: int = 1) -> nn.Sequential:
    """2-D convolution, batch norm and ReLU ('same' padding for odd kernels)."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


def conv3d_bn_relu(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    """3x3x3 convolution, batch norm and ReLU (teacher only: too slow for the CPU target)."""
    return nn.Sequential(
        nn.Conv3d(in_ch, out_ch, 3, stride, 1, bias=False),
        nn.BatchNorm3d(out_ch), nn.ReLU(inplace=True))


def pad_to_multiple(image: torch.Tensor, multiple: int = PAD_MULTIPLE
                    ) -> Tuple[torch.Tensor, int, int]:
    """Replicate-pad a BxCxHxW tensor on the bottom/right to a multiple; returns it and H, W.

    Padding bottom/right keeps pixel (0, 0) in place, so cropping back is a plain slice and
    disparities (measured along x from the left edge) are unaffected.
    """
    height, width = int(image.shape[-2]), int(image.shape[-1])
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode='replicate')
    return image, height, width


def upsample_disparity(disparity: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear upsampling by an integer factor, rescaling values to the finer pixel grid."""
    return F.interpolate(disparity, scale_factor=factor, mode='bilinear',
                         align_corners=False) * factor
