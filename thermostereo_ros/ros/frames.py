# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What travels from the node's callbacks to its worker: converted images and checked pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thermostereo_ros.geometry import StereoCamera


@dataclass
class Frame:
    """One converted image with the header it came with."""

    header: Any  # std_msgs/Header
    image: np.ndarray
    encoding: str
    received: float  # time.monotonic() at the callback


@dataclass
class PairJob:
    """A synchronised pair whose calibration passed check_pair, ready for the network."""

    stamp_ns: int
    left: Frame
    right: Frame
    camera: StereoCamera
    right_fx: float  # the right camera's fx, which DisparityImage.f reports
    timeline: int  # StampGuard.timeline when the pair was made
