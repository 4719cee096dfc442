# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""evaluation/cpu_load: the share of the CPUs other processes took, from /proc/stat."""

import os
import subprocess
import sys
import time

import pytest

from thermostereo_ros.evaluation import cpu_load
from thermostereo_ros.evaluation.cpu_load import CpuSample, others_share

pytestmark = pytest.mark.skipif(not os.path.exists('/proc/stat'), reason='needs Linux /proc')


def test_others_share_arithmetic():
    start = CpuSample(machine_busy_s=100.0, own_s=10.0, wall_s=50.0)
    # 2 s of wall on 4 CPUs = 8 CPU-seconds; the machine was busy 5, this process 1.
    end = CpuSample(machine_busy_s=105.0, own_s=11.0, wall_s=52.0)
    assert others_share(start, end, 4) == pytest.approx(0.5)
    # Counter jitter on an idle machine is clamped, not reported as negative load.
    assert others_share(start, CpuSample(100.0, 10.5, 52.0), 4) == 0.0
    assert others_share(start, CpuSample(200.0, 10.0, 51.0), 1) == 1.0
    assert others_share(start, start, 4) is None
    assert others_share(start, end, 0) is None


def test_sample_reads_proc_stat(tmp_path):
    now = cpu_load.sample()
    assert now is not None and now.machine_busy_s > 0 and now.own_s > 0
    bad = tmp_path / 'stat'
    bad.write_text('intr 1 2 3\n')
    assert cpu_load.sample(str(bad)) is None
    assert cpu_load.sample(str(tmp_path / 'missing')) is None


def test_a_busy_neighbour_is_seen():
    # A child that spins for 1.5 s while this process sleeps: whatever else runs on the
    # machine, that child alone keeps one CPU busy, so its share is at least ~1/cpus.
    cpus = os.cpu_count() or 1
    start = cpu_load.sample()
    child = subprocess.Popen([sys.executable, '-c',
                              'import time\nend = time.time() + 1.5\n'
                              'while time.time() < end: pass'])
    time.sleep(1.5)
    end = cpu_load.sample()  # before the child is reaped, so it is not counted as our own
    child.wait()
    assert others_share(start, end, cpus) >= 0.6 / cpus
