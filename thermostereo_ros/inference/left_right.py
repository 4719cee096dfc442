# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The left-right consistency check: the right view's disparity, and where the two agree.

A stereo network only estimates the left view's disparity. Mirroring both images and swapping
them turns the right camera into a left-looking one, so the same network gives the right
view's disparity (mirrored back). A left pixel at column x with disparity d sees the right
pixel x - d; where that pixel's own disparity is not about d, one of the two estimates is wrong
or the pixel is seen by one camera only (an occlusion, the sky). Pure numpy.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

# The node's default tolerance (px): sub-pixel estimates of one surface seen from both views
# agree to about a pixel at 1/4-resolution correlation plus refinement; 1 px keeps them.
DEFAULT_TOLERANCE_PX = 1.0


def mirrored_pair(left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Return the (left, right) pair whose left-view disparity is the right view's, mirrored."""
    return np.ascontiguousarray(right[:, ::-1]), np.ascontiguousarray(left[:, ::-1])


def unmirror(disparity: np.ndarray) -> np.ndarray:
    """Return the right view's disparity from the network's answer on `mirrored_pair`."""
    return np.ascontiguousarray(disparity[:, ::-1])


def consistent(left_disparity: np.ndarray, right_disparity: np.ndarray,
               tolerance: float = DEFAULT_TOLERANCE_PX) -> np.ndarray:
    """Return where the left view's disparity agrees with the right view's within `tolerance`.

    The right disparity is read at the nearest column x - d; a match outside the right image,
    or a non-finite estimate on either side, is inconsistent.
    """
    if left_disparity.shape != right_disparity.shape:
        raise ValueError(f'left and right disparity shapes differ: {left_disparity.shape} '
                         f'vs {right_disparity.shape}')
    if not tolerance >= 0:
        raise ValueError(f'tolerance must be >= 0 px, got {tolerance!r}')
    h, w = left_disparity.shape
    finite = np.isfinite(left_disparity)
    d = np.where(finite, left_disparity, 0.0).astype(np.float32)
    columns = np.arange(w, dtype=np.float32)[np.newaxis, :]
    target = np.rint(columns - d)
    inside = finite & (target >= 0) & (target < w)
    xr = np.clip(target, 0, w - 1).astype(np.intp)
    seen = np.take_along_axis(right_disparity, xr, axis=1)
    with np.errstate(invalid='ignore'):
        agree = np.abs(seen - d) <= np.float32(tolerance)
    return inside & agree


def kept_share(before: np.ndarray, after: np.ndarray) -> float:
    """Return the share of `before`'s valid pixels still valid in `after` (NaN if none)."""
    total = int(np.count_nonzero(before))
    return float(np.count_nonzero(after & before)) / total if total else float('nan')
