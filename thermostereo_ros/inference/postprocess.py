# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""From the network's raw disparity to what a node publishes: validity, invalid value, contrast.

Pure numpy. The node and the node benchmark both call these, so what is measured offline is
what the node does.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

# Invalid pixels in a published DisparityImage. min_disparity is always >= 0, so the sentinel
# is strictly below it, which is how stereo_msgs consumers recognise "no disparity".
INVALID_DISPARITY = -1.0
# The network regresses continuous sub-pixel disparity; 1/16 px is the nominal resolution
# advertised in delta_d (as stereo_image_proc's sub-pixel matchers do).
DISPARITY_RESOLUTION_PX = 1.0 / 16.0
# Rows and columns sampled by contrast_ratio: about 20k pixels and as many neighbour pairs at
# 640x512, enough for a robust spread and noise at a small share of a frame's time.
_CONTRAST_STRIDE = 4


def validity(raw: np.ndarray, confidence: np.ndarray, doffs: float, max_disparity: float,
             confidence_threshold: float) -> Tuple[np.ndarray, np.ndarray]:
    """Return (adjusted disparity, valid mask) for the network's pixel disparity `raw`.

    Valid: finite, inside the searched range, positive depth, the match falls inside the right
    image (left border columns cannot be matched), and confident enough. The comparisons
    write into one scratch mask instead of a temporary per term.
    """
    adjusted = np.subtract(raw, np.float32(doffs))
    valid = np.isfinite(raw)
    scratch = np.empty_like(valid)
    valid &= np.greater_equal(raw, 0.0, out=scratch)
    valid &= np.less_equal(raw, max_disparity, out=scratch)
    valid &= np.greater(adjusted, 0.0, out=scratch)
    # column - raw >= 0, i.e. x_right >= 0; for finite floats the same as raw <= column.
    columns = np.arange(raw.shape[1], dtype=np.float32)[np.newaxis, :]
    valid &= np.less_equal(raw, columns, out=scratch)
    valid &= np.greater_equal(confidence, confidence_threshold, out=scratch)
    return adjusted, valid


def mask_invalid(adjusted: np.ndarray, valid: np.ndarray, *, copy: bool) -> np.ndarray:
    """Return `adjusted` with INVALID_DISPARITY outside `valid` (in place unless `copy`)."""
    disparity = adjusted.copy() if copy else adjusted
    np.copyto(disparity, np.float32(INVALID_DISPARITY), where=~valid)
    return disparity


def contrast_ratio(image: np.ndarray) -> float:
    """Return the image's robust intensity spread over its pixel noise (0 for a flat image).

    Spread: the 0.5-99.5 percentile range. Noise: from the median absolute difference of
    horizontal neighbours (1.4826 / sqrt(2) turns it into a per-pixel sigma). A uniform frame
    (a shutter/FFC frame, a lens cap, a washed-out scene) has only noise, so its ratio is about
    5 whatever the sensor's gain or bit depth; any real scene has structure far above that.
    Scale-free on purpose: raw 16-bit counts, 8-bit AGC output and float images all work.
    """
    rows = np.asarray(image[::_CONTRAST_STRIDE], dtype=np.float32)
    low, high = np.percentile(rows[:, ::_CONTRAST_STRIDE], (0.5, 99.5))
    spread = float(high - low)
    if spread <= 0.0:
        return 0.0
    # The pairs (x, x + 1) at every stride-th x: noise needs adjacent pixels, not all of them,
    # and the median of every pair in the rows was a visible share of a node's frame.
    step = _CONTRAST_STRIDE
    neighbours = np.abs(rows[:, 1::step] - rows[:, :-1:step])
    sigma = float(np.median(neighbours)) * 1.4826 / np.sqrt(2.0)
    # Quantisation: an integer image cannot resolve less than about one count of noise.
    floor = 0.5 if image.dtype.kind in 'ui' else 1e-6 * max(abs(float(high)), 1.0)
    return spread / max(sigma, floor)
