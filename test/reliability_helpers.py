# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Helpers for the reliability tests: raw message builders, a figures recorder, /proc reads."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import sys
from typing import Any, Dict

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
# bench_out/ is git-ignored: the suite writes figures there on every run, and the tracked
# docs/RELIABILITY.md is only regenerated from them by an explicit `make reliability-report`.
OUT_DIR = pathlib.Path(os.environ.get('THERMOSTEREO_BENCH_OUT', ROOT / 'bench_out'))
ROS_DISTROS = {'9': 'kilted', '7': 'jazzy', '4': 'humble'}


def ros_distro() -> str:
    """Name of the ROS 2 distribution whose rclpy this interpreter runs (from its version)."""
    try:
        version = importlib.metadata.version('rclpy')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'
    return ROS_DISTROS.get(version.split('.')[0], f'rclpy-{version}')


def rclpy_version() -> str:
    """Installed rclpy version, or 'unknown'."""
    try:
        return importlib.metadata.version('rclpy')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


def vm_rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB, from /proc/<pid>/status."""
    with open(f'/proc/{pid}/status') as handle:
        for line in handle:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f'no VmRSS for pid {pid}')


def raw_image(header: Any, encoding: str, height: int, width: int, step: int, data: bytes,
              is_bigendian: int = 0) -> Any:
    """A sensor_msgs/Image with every field given as-is, consistent or not."""
    from sensor_msgs.msg import Image
    msg = Image(header=header, height=height, width=width, encoding=encoding, step=step,
                is_bigendian=is_bigendian)
    msg.data = bytes(data)
    return msg


def padded_rows(image: np.ndarray, step: int) -> bytes:
    """Row-major bytes of `image` with each row padded with zeros to `step` bytes."""
    rows = np.ascontiguousarray(image).reshape(image.shape[0], -1).view(np.uint8)
    out = np.zeros((image.shape[0], step), np.uint8)
    out[:, :rows.shape[1]] = rows
    return out.tobytes()


class Recorder:
    """Figures gathered while the reliability tests run, written once as JSON at the end."""

    def __init__(self) -> None:
        self.data: Dict[str, Any] = {
            'generated_utc': datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec='seconds'),
            'ros_distro': ros_distro(),
            'rclpy': rclpy_version(),
            'python': platform.python_version(),
            'machine': f'{platform.machine()}, {os.cpu_count()} CPU(s), '
                       f'{platform.platform(terse=True)}',
            'command': ' '.join([os.path.basename(sys.executable), '-m', 'pytest',
                                 *sys.argv[1:]]),
            'rmw': os.environ.get('RMW_IMPLEMENTATION', 'default (rmw_fastrtps_cpp)'),
            'cases': [],
        }

    def path(self) -> pathlib.Path:
        """Where this interpreter's figures go (one file per ROS distribution)."""
        return OUT_DIR / f'reliability-{self.data["ros_distro"]}.json'

    def write(self) -> pathlib.Path:
        """Write the figures gathered so far."""
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.data, indent=2, sort_keys=True) + '\n')
        return path
