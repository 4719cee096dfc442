# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""thermostereo_ros: real-time depth from a rectified thermal stereo pair (ThermoStereoRT).

The package is split along one boundary. Everything except `thermostereo_ros.ros` is the
ROS-free core (model, inference, data, evaluation, training, geometry, bags, cli) and imports
without rclpy; `thermostereo_ros.ros` is the thin ROS 2 layer.
"""

__version__ = '0.1.0'
