# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Disparity to depth and to organised 3-D points (vectorised numpy, NaN for invalid)."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from thermostereo_ros.geometry.camera import StereoCamera


def adjust_disparity(disparity: np.ndarray, camera: StereoCamera) -> np.ndarray:
    """Pixel disparity x_left - x_right to the stereo_msgs convention Z = f * T / d."""
    return np.asarray(disparity, dtype=np.float32) - np.float32(camera.doffs)


def _depth_into(d: np.ndarray, camera: StereoCamera, min_depth: float, max_depth: float,
                out: np.ndarray) -> None:
    """Write disparity_to_depth of adjusted float32 `d` into `out` (same shape, may be strided).

    Temporaries are two boolean masks; the division runs over every pixel and the invalid ones
    are overwritten with NaN afterwards, which gives the same values as dividing only valid ones.
    """
    with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
        np.divide(np.float32(camera.focal_baseline), d, out=out)
    valid = np.greater(d, 0.0)
    scratch = np.isfinite(d)
    valid &= scratch
    valid &= np.greater_equal(out, min_depth, out=scratch)
    valid &= np.less_equal(out, max_depth, out=scratch)
    np.copyto(out, np.float32(np.nan), where=np.logical_not(valid, out=valid))


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
    depth = np.empty(d.shape, dtype=np.float32)
    _depth_into(d, camera, min_depth, max_depth, depth)
    return depth


def disparity_to_points(disparity: np.ndarray, camera: StereoCamera, *,
                        adjusted: bool = False, decimation: int = 1,
                        min_depth: float = 0.0, max_depth: float = math.inf,
                        out: Optional[np.ndarray] = None) -> np.ndarray:
    """Organised (H/dec)x(W/dec)x3 float32 points in the left optical frame, NaN if invalid.

    Decimation keeps every `decimation`-th row and column, starting at pixel (0, 0), and uses
    the kept pixels' full-resolution coordinates so points stay metrically correct. `out`, a
    float32 array of that shape (a strided view is fine, e.g. the x, y, z of an x, y, z,
    intensity buffer), receives the points and is returned; otherwise a new array is.
    """
    if int(decimation) < 1:
        raise ValueError(f'decimation must be >= 1, got {decimation}')
    step = int(decimation)
    d = np.asarray(disparity, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f'disparity must be 2-D, got shape {d.shape}')
    d = d[::step, ::step]
    if not adjusted:
        d = adjust_disparity(d, camera)
    shape = d.shape + (3,)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f'out must be float32 {shape}, got {out.dtype} {out.shape}')
    x, y, z = out[..., 0], out[..., 1], out[..., 2]
    _depth_into(d, camera, min_depth, max_depth, z)
    u = (np.arange(0, disparity.shape[1], step, dtype=np.float32) - np.float32(camera.cx_left))
    v = (np.arange(0, disparity.shape[0], step, dtype=np.float32) - np.float32(camera.cy))
    # NaN depth propagates into x and y, so invalid points are NaN in all three coordinates.
    # Same operation order as u * z / fx, written in place.
    np.divide(np.multiply(u[np.newaxis, :], z, out=x), np.float32(camera.fx), out=x)
    np.divide(np.multiply(v[:, np.newaxis], z, out=y), np.float32(camera.fy), out=y)
    return out
