# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The tracked tree stays small enough to travel to a GPU machine with its wheels."""

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The project's size policy (CONTRIBUTING.md): sources, docs and the shipped weights only;
# finished runs' weights and states live in history or outside the tree. It also keeps a
# checkout small enough to travel with the GPU check's wheels (scripts/gpu_wheels.sh checks
# that fit itself).
TRACKED_BUDGET_MIB = 20


def test_tracked_files_fit_the_device_budget():
    if shutil.which('git') is None or not (ROOT / '.git').exists():
        pytest.skip('not a git checkout')
    listing = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split('\0')
    sizes = {name: (ROOT / name).stat().st_size for name in listing
             if name and (ROOT / name).is_file()}
    total_mib = sum(sizes.values()) / 2 ** 20
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert total_mib <= TRACKED_BUDGET_MIB, (
        f'tracked files are {total_mib:.1f} MiB, over the {TRACKED_BUDGET_MIB} MiB that leaves '
        f'room for the GPU wheels (training_state/README.md); largest: '
        + ', '.join(f'{name} ({sizes[name] / 2 ** 20:.1f} MiB)' for name in largest))
