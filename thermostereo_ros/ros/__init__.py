# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The thin ROS 2 layer: the node, message conversions, pair sync, diagnostics. Needs rclpy."""
