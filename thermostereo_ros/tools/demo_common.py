# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What the demo's modules share: its sequences, its output files, its error and its run."""

import pathlib
from dataclasses import dataclass
from typing import Dict, List, Tuple

from thermostereo_ros.tools.demo_collector import Collected

CONDITIONS = ('day', 'night')
STRIP_FRAMES_PER_CONDITION = 2
WARM_UP_FRAMES = 1
# The node's outputs as an MCAP bag in the output folder (a tenth of the clouds: 2.6 MB each).
OUTPUTS_BAG = 'outputs_bag'
OUTPUT_FILES = ('disparity_strip.png', 'pointcloud.ply', 'summary.json')


class DemoError(RuntimeError):
    """The demo cannot go on; the message is one line for the user."""


@dataclass
class OnlineRun:
    """What the online part of the demo produced."""

    sequences: List[Tuple[str, str]]
    bags: List[Tuple[pathlib.Path, str, Tuple[int, int]]]
    frames_per_sequence: int
    published: int
    data: Collected
    timings: Dict[str, float]
