# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The Fast DDS large-data profile shipped in config/, and the variables that select it.

Fast DDS reads its XML profile file once, when a process creates its first participant, from
an environment variable whose name changed with Fast DDS 3:

* Fast DDS 3.x (Kilted and later): FASTDDS_DEFAULT_PROFILES_FILE. rmw_fastrtps there still
  honours FASTRTPS_DEFAULT_PROFILES_FILE, but logs a deprecation warning for it.
* Fast DDS 2.x (Humble, Jazzy): FASTRTPS_DEFAULT_PROFILES_FILE only; the new name is ignored.

No rclpy or launch import here: the launch file, the benchmark and the demo use this module.
"""

from __future__ import annotations

from importlib import metadata
import os
import pathlib
import sys
from typing import Dict, Tuple, Union
from xml.etree import ElementTree

from ament_index_python.packages import get_package_share_directory, get_packages_with_prefixes

PROFILE_FILE = 'fastdds_large_data.xml'
FASTDDS3_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
FASTDDS2_VARIABLE = 'FASTRTPS_DEFAULT_PROFILES_FILE'
PROFILE_VARIABLES = (FASTDDS3_VARIABLE, FASTDDS2_VARIABLE)
PROFILE_CHOICES = ('large-shm', 'default')  # what apply_profile accepts (bench, demo)


def shipped_profile() -> pathlib.Path:
    """Path of config/fastdds_large_data.xml: the installed share/ copy, else the source tree's."""
    bases = []
    try:
        bases.append(pathlib.Path(get_package_share_directory('thermostereo_ros')))
    except Exception:  # no ament index (a pip venv), or the package is not in it
        pass
    bases.append(pathlib.Path(sys.prefix) / 'share' / 'thermostereo_ros')  # pip-installed wheel
    bases.append(pathlib.Path(__file__).resolve().parents[2])  # source checkout / editable
    for base in bases:
        path = base / 'config' / PROFILE_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f'{PROFILE_FILE} not found under ' + ', '.join(map(str, bases)))


def _installed(package: str) -> bool:
    try:
        if package in get_packages_with_prefixes():
            return True
    except Exception:  # no ament index: a pip venv, checked below
        pass
    try:
        metadata.version(f'ros-{package}')  # how the PyPI ROS wheels name the library
        return True
    except metadata.PackageNotFoundError:
        return False


def profile_variables() -> Tuple[str, ...]:
    """Name(s) of the variable the installed Fast DDS reads; both if its version is unknown."""
    # Fast DDS 3 was renamed from `fastrtps` to `fastdds`, package and library alike.
    if _installed('fastdds'):
        return (FASTDDS3_VARIABLE,)
    if _installed('fastrtps'):
        return (FASTDDS2_VARIABLE,)
    return PROFILE_VARIABLES


def segment_size(path: Union[str, pathlib.Path]) -> int:
    """Read the largest shared-memory segment size, in bytes, that a Fast DDS profile declares."""
    root = ElementTree.parse(str(path)).getroot()
    sizes = [int(element.text) for element in root.iter()
             if element.tag.rsplit('}', 1)[-1] == 'segment_size' and element.text]
    if not sizes:
        raise ValueError(f'{path}: declares no shared-memory segment_size')
    return max(sizes)


def profile_environment(path: Union[str, pathlib.Path]) -> Dict[str, str]:
    """Environment entries that make a process started with them load the profile at `path`."""
    return {name: str(path) for name in profile_variables()}


def apply_profile(choice: str) -> Dict[str, str]:
    """Select the DDS transport set-up for this process and the processes it starts.

    'large-shm': the package's config/fastdds_large_data.xml (a 32 MiB shared-memory segment:
    Fast DDS's default 512 KiB segment silently drops best-effort 640x512 mono16 images);
    'default': the middleware's defaults. A profile file the user already set, or another RMW
    than Fast DDS, is left alone. Must run before this process creates its first DDS
    participant (Fast DDS reads the file once). Returns what was chosen, for reports.
    """
    rmw = os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    if choice == 'default':
        return {'dds_profile': 'middleware defaults', 'rmw': rmw}
    if choice != 'large-shm':
        raise ValueError(f'unknown DDS profile {choice!r}; expected large-shm or default')
    if not rmw.startswith('rmw_fastrtps'):
        return {'dds_profile': f'middleware defaults ({rmw} is not Fast DDS)', 'rmw': rmw}
    for var in PROFILE_VARIABLES:
        if os.environ.get(var):
            return {'dds_profile': f'user profile {os.environ[var]} ({var})', 'rmw': rmw}
    # The variable name depends on the Fast DDS version (Jazzy's 2.x ignores the 3.x name).
    path = shipped_profile()
    environment = profile_environment(path)
    os.environ.update(environment)
    return {'dds_profile': f'Fast DDS shared memory segment {segment_size(path) >> 20} MiB ('
                           + ', '.join(f'{k}={v}' for k, v in environment.items()) + ')',
            'rmw': rmw}
