# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Is this calibration a rectified stereo pair? The checks a node runs on every camera_info.

A rectified pair shares fx, fy and cy (same image rows), has positive focal lengths and the
right camera to the right (P_right[3] = -fx * baseline < 0). Anything else gives depth that is
silently wrong: flipped points, a halved range, an empty cloud. So it is refused, naming the
field, instead of being used.
"""

from __future__ import annotations

from typing import Optional

from thermostereo_ros.geometry.camera import ArrayLike, as_matrix, StereoCamera

# fx and fy of the two rectified cameras agree to this fraction (rectification gives equal
# values; 1 % allows for rounding in hand-written YAML).
FOCAL_TOLERANCE = 0.01
# Rows of the two rectified images agree to this many pixels.
CY_TOLERANCE_PX = 1.0


def rectified_camera(p_left: ArrayLike, p_right: ArrayLike, k_left: Optional[ArrayLike] = None,
                     *, min_baseline: float = 0.0,
                     max_baseline: float = float('inf')) -> StereoCamera:
    """Return the StereoCamera of a rectified pair, or ValueError saying what is wrong."""
    pl = as_matrix(p_left, 3, 4, 'left P')
    pr = as_matrix(p_right, 3, 4, 'right P')
    for side, p in (('left', pl), ('right', pr)):
        for name, value in (('fx (P[0])', p[0, 0]), ('fy (P[5])', p[1, 1])):
            if not value > 0.0:
                raise ValueError(f'{side} {name} is {value:g}; focal lengths must be positive '
                                 '(uncalibrated, or a flipped axis)')
    for name, left, right in (('fx', pl[0, 0], pr[0, 0]), ('fy', pl[1, 1], pr[1, 1])):
        if abs(right - left) > FOCAL_TOLERANCE * left:
            raise ValueError(f'right {name} {right:g} differs from left {name} {left:g}: not a '
                             'rectified pair (rectified cameras share their focal lengths)')
    if abs(pr[1, 2] - pl[1, 2]) > CY_TOLERANCE_PX:
        raise ValueError(f'right cy {pr[1, 2]:g} differs from left cy {pl[1, 2]:g} by more than '
                         f'{CY_TOLERANCE_PX:g} px: the images are not row-aligned (not '
                         'rectified)')
    camera = StereoCamera.from_projection(pl, pr, k_left)
    if not min_baseline <= camera.baseline <= max_baseline:
        raise ValueError(f'baseline {camera.baseline:g} m (from right P[3] = {pr[0, 3]:g}) is '
                         f'outside [{min_baseline:g}, {max_baseline:g}] m; P[3] must be '
                         '-fx * baseline in metres (not millimetres)')
    return camera
