# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""scripts/gpu_check.sh, dry run on the CPU: the bench, the node over DDS and the result file."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run(tmp_path):
    # The Makefile's DDS settings (loopback, this run's domain) pass through the environment.
    env = dict(os.environ, GPU_CHECK_DRY_RUN='1', OUT=str(tmp_path),
               GPU_CHECK_PYTHON=sys.executable, GPU_CHECK_WHEELS=str(tmp_path / 'no_wheels'))
    proc = subprocess.run(['bash', str(ROOT / 'scripts' / 'gpu_check.sh')], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / 'gpu_bench.json').read_text())
    assert result['dry_run'] is True and result['bench_exit_code'] == 0
    bench = result['bench']
    assert not bench['errors']
    timed = {(row['label'], row['size']) for row in bench['latency']}
    assert ('torch fp32 cpu', '256x64') in timed and ('torch fp32 cpu', '320x64') in timed
    # rclpy is in the Kilted venv, so the node part ran over real DDS and answered every pair.
    assert 'node_skipped' not in result
    disparity = bench['node']['topics']['disparity']
    assert bench['node']['sent'] == 30 and disparity['delivered'] >= 27
    # Without CUDA the CUDA tests skip at collection (pytest's 5), which the dry run accepts.
    assert result['cuda_tests']['exit_code'] == 5
