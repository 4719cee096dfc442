# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""flake8 over the package, tests and launch files, as ament_flake8 does (max line 99)."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_flake8_clean():
    result = subprocess.run(
        [sys.executable, '-m', 'flake8', '--max-line-length=99',
         'thermostereo_ros', 'test', 'launch', 'setup.py', 'scripts'],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, 'flake8 found problems:\n' + result.stdout + result.stderr
