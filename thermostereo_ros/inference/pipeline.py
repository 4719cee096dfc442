# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One rectified pair through the network and the post-processing: what the node publishes."""

from __future__ import annotations

from dataclasses import dataclass
import math
import time
from typing import Optional

import numpy as np

from thermostereo_ros.inference.engine import DisparityEngine
from thermostereo_ros.inference.left_right import consistent, kept_share
from thermostereo_ros.inference.postprocess import contrast_ratio, mask_invalid, validity


@dataclass
class PairResult:
    """The network's answer for one pair, post-processed."""

    adjusted: np.ndarray   # disparity minus (cx_left - cx_right), unmasked
    valid: np.ndarray      # validity mask
    disparity: np.ndarray  # `adjusted` with INVALID_DISPARITY outside `valid`
    confidence: np.ndarray
    uniform: bool          # a frame without usable contrast: nothing was matched
    inference_ms: float
    postprocess_ms: float
    # Of the pixels valid before the left-right check, the share it kept (NaN: no check).
    lr_kept: float = math.nan


def run_pair(engine: DisparityEngine, left: np.ndarray, right: np.ndarray, *, doffs: float,
             max_disparity: float, confidence_threshold: float, min_contrast: float,
             keep_adjusted: bool, lr_tolerance: Optional[float] = None) -> PairResult:
    """Infer and post-process one pair; a uniform frame is all-invalid without inference.

    keep_adjusted: keep `adjusted` apart from the masked disparity (costs a copy), for scoring.
    lr_tolerance: run the left-right check (the engine's `infer_left_right`) with this
    tolerance in px and invalidate the pixels that fail it; None: no check.
    """
    started = time.perf_counter()
    uniform = min_contrast > 0 and min(contrast_ratio(left), contrast_ratio(right)) < min_contrast
    # The contrast check is the node's own work, so it counts with the post-processing.
    check_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    right_view = None
    if uniform:  # a shutter frame or a lens cap: any "match" would be a phantom obstacle
        raw = np.full(left.shape, np.nan, np.float32)
        confidence = np.zeros(left.shape, np.float32)
    elif lr_tolerance is not None:
        result, right_view = engine.infer_left_right(left, right)
        raw, confidence = result.disparity, result.confidence
    else:
        result = engine.infer(left, right)
        raw, confidence = result.disparity, result.confidence
    inference_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    adjusted, valid = validity(raw, confidence, doffs, max_disparity, confidence_threshold)
    lr_kept = math.nan
    if right_view is not None and lr_tolerance is not None:
        checked = valid & consistent(raw, right_view, lr_tolerance)
        lr_kept, valid = kept_share(valid, checked), checked
    disparity = mask_invalid(adjusted, valid, copy=keep_adjusted)
    return PairResult(adjusted, valid, disparity, confidence, uniform, inference_ms,
                      check_ms + (time.perf_counter() - started) * 1e3, lr_kept)
