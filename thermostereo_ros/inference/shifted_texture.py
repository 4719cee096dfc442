# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A synthetic rectified thermal pair (smooth random texture, known shift) for checks."""

from typing import Tuple

import numpy as np


def synthetic_pair(height: int, width: int, disparity: int = 8, seed: int = 0
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """Return (left, right) uint16 images with right(x) = left(x + disparity).

    The texture is low-pass filtered noise scaled to a 14-bit-like range, so it looks more like
    a thermal frame than white noise does and exercises the real normalisation path.
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((height, width + disparity))
    spectrum = np.fft.rfft2(noise)
    fy = np.fft.fftfreq(noise.shape[0])[:, None]
    fx = np.fft.rfftfreq(noise.shape[1])[None, :]
    spectrum *= np.exp(-(fx ** 2 + fy ** 2) / (2 * 0.04 ** 2))
    smooth = np.fft.irfft2(spectrum, s=noise.shape)
    smooth = (smooth - smooth.min()) / max(float(np.ptp(smooth)), 1e-12)
    scene = (7000 + 3000 * smooth).astype(np.uint16)
    # A scene point at left column x appears at right column x - disparity.
    left = np.ascontiguousarray(scene[:, :width])
    right = np.ascontiguousarray(scene[:, disparity:disparity + width])
    return left, right
