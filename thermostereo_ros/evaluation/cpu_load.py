# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""How much of the CPUs other processes took while a benchmark ran, from Linux /proc/stat.

A latency ratio against SGBM means little when a training run or another VM shares the two
cores (the same weights have given ratios a quarter apart on one host). psutil is
not a dependency of this package, and what is needed is two lines of /proc/stat, so it is
read here.
"""

from dataclasses import dataclass
import os
import time
from typing import Optional

# /proc/stat's first line: cpu user nice system idle iowait irq softirq steal guest guest_nice.
# Steal counts as busy: it is time the hypervisor gave to another machine. guest and
# guest_nice are already inside user and nice.
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used by the whole machine and by this process, at one wall-clock time."""

    machine_busy_s: float
    own_s: float
    wall_s: float


def sample(stat_path: str = '/proc/stat') -> Optional[CpuSample]:
    """Read the counters now; None where /proc/stat is not there (not Linux)."""
    try:
        with open(stat_path) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != 'cpu':
        return None
    ticks = [int(v) for v in fields[1:]]
    busy = sum(ticks[i] for i in _BUSY_FIELDS if i < len(ticks))
    own = os.times()
    return CpuSample(machine_busy_s=busy / os.sysconf('SC_CLK_TCK'),
                     own_s=own.user + own.system + own.children_user + own.children_system,
                     wall_s=time.monotonic())


def others_share(start: CpuSample, end: CpuSample, cpus: int) -> Optional[float]:
    """Fraction of all `cpus` that other processes kept busy between two samples (0-1)."""
    wall = end.wall_s - start.wall_s
    if wall <= 0 or cpus <= 0:
        return None
    others = (end.machine_busy_s - start.machine_busy_s) - (end.own_s - start.own_s)
    # The two counters tick at different moments, so an idle machine can read slightly < 0.
    return min(1.0, max(0.0, others / (wall * cpus)))
