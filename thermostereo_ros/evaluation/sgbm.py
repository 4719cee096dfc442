# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""OpenCV StereoSGBM baseline configured like ROS 2 stereo_image_proc's disparity node.

stereo_image_proc (image_pipeline, disparity_node) declares these defaults, used here:
correlation_window_size 15, prefilter_cap 31, uniqueness_ratio 15, P1 200, P2 400,
speckle_size 100, speckle_range 4, disp12_max_diff 0 (check disabled), full_dp false
(MODE_SGBM), min_disparity 0. Only the disparity range is adapted: the smallest multiple
of 16 >= max_disparity (the node's default of 64 is too small for near objects).
Input: the pair normalised jointly (1-99 %) to [0, 1], then scaled to 8 bit, as the node
matches MONO8 images. Invalid pixels (negative output, including the unmatched left
band) are filled along each row with the smaller (farther) of the two neighbouring valid
disparities, as the KITTI devkit interpolates sparse results; rows without any valid
pixel become 0.
"""

from typing import Any

import cv2
import numpy as np

from thermostereo_ros.data.normalization import normalize_pair

ROS_DEFAULTS = dict(block_size=15, prefilter_cap=31, uniqueness_ratio=15, p1=200, p2=400,
                    speckle_size=100, speckle_range=4, disp12_max_diff=0)


def fill_invalid_background(disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid runs of each row with min(left valid neighbour, right valid neighbour)."""
    disp = np.asarray(disparity, np.float32)
    valid = np.asarray(valid, bool)
    h, w = disp.shape
    cols = np.broadcast_to(np.arange(w), (h, w))
    # Index of the nearest valid pixel at or before / at or after each column.
    prev_idx = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    next_idx = np.minimum.accumulate(np.where(valid, cols, w)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(h)[:, None]
    inf = np.float32(np.inf)
    prev_val = np.where(prev_idx >= 0, disp[rows, np.clip(prev_idx, 0, w - 1)], inf)
    next_val = np.where(next_idx < w, disp[rows, np.clip(next_idx, 0, w - 1)], inf)
    fill = np.minimum(prev_val, next_val)
    fill[~np.isfinite(fill)] = 0.0
    return np.where(valid, disp, fill).astype(np.float32)


class SGBMBaseline:
    """StereoSGBM with stereo_image_proc defaults; `compute` returns dense float32 px."""

    def __init__(self, max_disparity: int = 192, fill: bool = True, **overrides: Any) -> None:
        """Create the matcher; keyword `overrides` replace entries of ROS_DEFAULTS."""
        params = dict(ROS_DEFAULTS, **overrides)
        self.num_disparities = int(np.ceil(max_disparity / 16.0)) * 16
        self.fill = fill
        self.params = params
        self._matcher = cv2.StereoSGBM_create(  # type: ignore[attr-defined]  # cv2's stubs
            minDisparity=0, numDisparities=self.num_disparities, blockSize=params['block_size'],
            P1=params['p1'], P2=params['p2'], disp12MaxDiff=params['disp12_max_diff'],
            preFilterCap=params['prefilter_cap'], uniquenessRatio=params['uniqueness_ratio'],
            speckleWindowSize=params['speckle_size'], speckleRange=params['speckle_range'],
            mode=cv2.STEREO_SGBM_MODE_SGBM)

    def compute_raw(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """SGBM disparity in px with invalid pixels < 0 (no filling)."""
        ln, rn = normalize_pair(left, right, mode='joint')
        l8 = np.rint(ln * 255).astype(np.uint8)
        r8 = np.rint(rn * 255).astype(np.uint8)
        return self._matcher.compute(l8, r8).astype(np.float32) / np.float32(16.0)

    def compute(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Dense float32 disparity of the left view (holes background-filled)."""
        raw = self.compute_raw(left, right)
        valid = raw >= 0
        if not self.fill:
            return np.where(valid, raw, 0.0).astype(np.float32)
        return fill_invalid_background(raw, valid)
