# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Thermal intensity normalisation shared by training, evaluation and the inference engine.

Raw thermal counts (MS2: 14-bit values in 16-bit PNGs) have a scene-dependent range. Mapping
left and right with one range computed over both images ("joint") keeps a surface equally
bright in both views, which a correlation cost volume relies on. The MS2 benchmark instead
clips each image to its own 1-99 % range ("per_image"); that is kept for reproducing
published numbers.
"""

from typing import Tuple

import numpy as np

MODES = ('joint', 'per_image')
# Subsample large images when estimating percentiles: the range of a 640x512 frame is found
# as well from every 4th pixel, at a sixteenth of the cost.
_PERCENTILE_STRIDE = 4


def _robust_range(images: Tuple[np.ndarray, ...], low: float, high: float
                  ) -> Tuple[float, float]:
    samples = np.concatenate(
        [np.asarray(im)[::_PERCENTILE_STRIDE, ::_PERCENTILE_STRIDE].ravel() for im in images])
    samples = samples[np.isfinite(samples)] if samples.dtype.kind == 'f' else samples
    if samples.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(samples, (low, high))
    if not hi > lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def _scale(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    out = np.asarray(image, dtype=np.float32) - np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    np.clip(out, 0.0, 1.0, out=out)
    return out


def normalize_pair(left: np.ndarray, right: np.ndarray, mode: str = 'joint',
                   low: float = 1.0, high: float = 99.0) -> Tuple[np.ndarray, np.ndarray]:
    """Map a thermal pair to float32 in [0, 1].

    `mode='joint'` uses one low/high percentile range over both images; `mode='per_image'`
    uses each image's own range (the MS2 benchmark's convention). Any numeric dtype is
    accepted; non-finite values in float input are treated as missing for the range.
    """
    if mode not in MODES:
        raise ValueError(f'normalisation mode {mode!r} is not one of {MODES}')
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f'percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}')
    if mode == 'joint':
        lo, hi = _robust_range((left, right), low, high)
        return _scale(left, lo, hi), _scale(right, lo, hi)
    lo_l, hi_l = _robust_range((left,), low, high)
    lo_r, hi_r = _robust_range((right,), low, high)
    return _scale(left, lo_l, hi_l), _scale(right, lo_r, hi_r)
