# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Disparity to depth and to organised 3-D points (vectorised numpy, NaN for invalid)."""

from __future__ import annotations

import math

import numpy as np

from thermostereo_ros.geometry.camera import StereoCamera


def adjust_disparity(disparity: np.ndarray, camera: StereoCamera) -> np.ndarray:
    """Pixel disparity x_left - x_right to the stereo_msgs convention Z = f * T / d."""
    return np.asarray(disparity, dtype=np.float32) - np.float32(camera.doffs)


def disparity_to_depth(disparity: np.ndarray, camera: StereoCamera, *,
                       adjusted: bool = False, min_depth: float = 0.0,
                       max_depth: float = math.inf) -> np.ndarray:
    """Depth in metres (float32) for every pixel; NaN where there is none.

    `disparity` is pixel disparity x_left - x_right, or with `adjusted=True` already has
    cx_left - cx_right removed (stereo_msgs/DisparityImage). Non-finite or non-positive
    adjusted disparities and depths outside [min_depth, max_depth] become NaN.
    """
    d = np.asarray(disparity, dtype=np.float32)
    if not adjusted:
        d = adjust_disparity(d, camera)
    valid = np.isfinite(d) & (d > 0.0)
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.float32(camera.focal_baseline) / np.where(valid, d, np.float32(1.0))
    valid &= (depth >= min_depth) & (depth <= max_depth)
    return np.where(valid, depth, np.float32(np.nan)).astype(np.float32, copy=False)


def disparity_to_points(disparity: np.ndarray, camera: StereoCamera, *,
                        adjusted: bool = False, decimation: int = 1,
                        min_depth: float = 0.0, max_depth: float = math.inf) -> np.ndarray:
    """Organised (H/dec)x(W/dec)x3 float32 points in the left optical frame, NaN if invalid.

    Decimation keeps every `decimation`-th row and column, starting at pixel (0, 0), and uses
    the kept pixels' full-resolution coordinates so points stay metrically correct.
    """
    if int(decimation) < 1:
        raise ValueError(f'decimation must be >= 1, got {decimation}')
    step = int(decimation)
    d = np.asarray(disparity, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f'disparity must be 2-D, got shape {d.shape}')
    d = d[::step, ::step]
    z = disparity_to_depth(d, camera, adjusted=adjusted, min_depth=min_depth,
                           max_depth=max_depth)
    u = (np.arange(0, disparity.shape[1], step, dtype=np.float32) - np.float32(camera.cx_left))
    v = (np.arange(0, disparity.shape[0], step, dtype=np.float32) - np.float32(camera.cy))
    points = np.empty(z.shape + (3,), dtype=np.float32)
    # NaN depth propagates into x and y, so invalid points are NaN in all three coordinates.
    points[..., 0] = u[np.newaxis, :] * z / np.float32(camera.fx)
    points[..., 1] = v[:, np.newaxis] * z / np.float32(camera.fy)
    points[..., 2] = z
    return points
