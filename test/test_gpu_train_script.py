# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""scripts/gpu_train.sh, dry run on the CPU: every step runs and the weights come back."""

import json
import os
import pathlib
import subprocess
import sys

from thermostereo_ros.data.synthetic import RENDERER_VERSION
from thermostereo_ros.inference.checkpoint import build_from_checkpoint

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gpu_train_dry_run(tmp_path):
    env = dict(os.environ, GPU_TRAIN_DRY_RUN='1', OUT=str(tmp_path),
               GPU_TRAIN_PYTHON=sys.executable, OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', str(ROOT / 'scripts' / 'gpu_train.sh')], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, arch in (('teacher', 'teacher'), ('student', 'thermostereo_rt')):
        path = tmp_path / f'{name}.safetensors'
        assert path.stat().st_size < 16 * 1024 * 1024  # what the device returns per file
        model, meta = build_from_checkpoint(str(path))
        assert meta['arch'] == arch and meta['provenance']['steps'] >= 1
        assert meta['provenance']['renderer_version'] == RENDERER_VERSION
        assert json.loads((tmp_path / f'{name}.curve.json').read_text())
