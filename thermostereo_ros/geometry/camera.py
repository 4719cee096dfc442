# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Rectified stereo camera model built from CameraInfo-style K and P arrays."""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Optional, Sequence, Union

import numpy as np

ArrayLike = Union[Sequence[float], np.ndarray]


def as_matrix(values: ArrayLike, rows: int, cols: int, name: str) -> np.ndarray:
    """Return `values` as a finite rows x cols float64 matrix, or ValueError naming `name`."""
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.size != rows * cols:
        raise ValueError(f'{name} must have {rows * cols} elements ({rows}x{cols}), '
                         f'got {matrix.size}')
    matrix = matrix.reshape(rows, cols)
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f'{name} contains NaN or Inf')
    return matrix


@dataclass(frozen=True)
class StereoCamera:
    """A rectified stereo pair, in the conventions of sensor_msgs/CameraInfo.

    Pixel disparity d = x_left - x_right. When the principal points differ
    (cx_left != cx_right, e.g. after cv2.stereoRectify without CALIB_ZERO_DISPARITY) depth is
    Z = fx * baseline / (d - (cx_left - cx_right)).
    """

    fx: float
    fy: float
    cx_left: float
    cx_right: float
    cy: float
    baseline: float

    def __post_init__(self) -> None:
        """Reject calibrations that cannot produce depth, naming the offending field."""
        for name in ('fx', 'fy', 'cx_left', 'cx_right', 'cy', 'baseline'):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f'{name} is not finite')
        if self.fx == 0.0:
            raise ValueError('fx is zero (uncalibrated camera: P[0] of the left camera_info)')
        if self.fy == 0.0:
            raise ValueError('fy is zero (uncalibrated camera: P[5] of the left camera_info)')
        if self.baseline <= 0.0:
            raise ValueError(
                f'baseline is {self.baseline:g} m; it must be positive '
                '(right camera_info P[3] = -fx * baseline, left camera on the left)')

    @classmethod
    def from_projection(cls, p_left: ArrayLike, p_right: ArrayLike,
                        k_left: Optional[ArrayLike] = None) -> 'StereoCamera':
        """Build from the left and right 3x4 projection matrices of rectified CameraInfos.

        `k_left` is only checked for shape: rectified images are described by P, not K.
        """
        if k_left is not None:
            as_matrix(k_left, 3, 3, 'left K')
        pl = as_matrix(p_left, 3, 4, 'left P')
        pr = as_matrix(p_right, 3, 4, 'right P')
        fx = float(pl[0, 0])
        if fx == 0.0:
            raise ValueError('fx is zero (left P[0]): camera_info is not calibrated')
        if pr[0, 0] == 0.0:
            raise ValueError('right fx is zero (right P[0]): camera_info is not calibrated')
        # Tx of the left camera is normally 0; subtracting it keeps the formula right when the
        # left camera is not the reference.
        baseline = -(float(pr[0, 3]) / float(pr[0, 0]) - float(pl[0, 3]) / fx)
        return cls(fx=fx, fy=float(pl[1, 1]), cx_left=float(pl[0, 2]),
                   cx_right=float(pr[0, 2]), cy=float(pl[1, 2]), baseline=baseline)

    @property
    def doffs(self) -> float:
        """Principal point offset cx_left - cx_right, to subtract from pixel disparity."""
        return self.cx_left - self.cx_right

    @property
    def focal_baseline(self) -> float:
        """The product fx * baseline (px * m): depth = focal_baseline / adjusted disparity."""
        return self.fx * self.baseline

    def q_matrix(self) -> np.ndarray:
        """Return the 4x4 reprojection matrix laid out as cv2.stereoRectify returns it."""
        tx = -self.baseline  # stereoRectify's Tx is the right camera's x translation (< 0)
        return np.array([
            [1.0, 0.0, 0.0, -self.cx_left],
            [0.0, 1.0, 0.0, -self.cy],
            [0.0, 0.0, 0.0, self.fx],
            [0.0, 0.0, -1.0 / tx, (self.cx_left - self.cx_right) / tx],
        ])
