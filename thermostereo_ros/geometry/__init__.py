# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pure stereo geometry: camera models from calibration, disparity to depth and points."""

from thermostereo_ros.geometry.camera import StereoCamera
from thermostereo_ros.geometry.rectification import rectified_camera
from thermostereo_ros.geometry.reprojection import (
    adjust_disparity, disparity_to_depth, disparity_to_points)

__all__ = ['StereoCamera', 'adjust_disparity', 'disparity_to_depth', 'disparity_to_points',
           'rectified_camera']
