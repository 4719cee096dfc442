# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Header stamps as integer nanoseconds, for rclpy and rosbags messages alike (no imports)."""

from typing import Any

NS_PER_S = 1_000_000_000


def stamp_ns(header: Any) -> int:
    """Return a std_msgs/Header's stamp in integer nanoseconds."""
    return int(header.stamp.sec) * NS_PER_S + int(header.stamp.nanosec)


def set_stamp(header: Any, nanoseconds: int) -> None:
    """Set a std_msgs/Header's stamp from integer nanoseconds."""
    header.stamp.sec, header.stamp.nanosec = divmod(int(nanoseconds), NS_PER_S)
