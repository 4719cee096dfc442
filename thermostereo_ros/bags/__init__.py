# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 bag tools without ROS: MS2 to rosbag2 conversion (rosbags library)."""
