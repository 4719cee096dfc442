# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""msg/ is built by this package: the CMake build a colcon user runs, installed and imported."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = pathlib.Path(__file__).resolve().parents[1]
PREFIX = pathlib.Path(sys.prefix)


def _needs_build_tools():
    if shutil.which('cmake') is None:
        pytest.skip('cmake is not installed')
    if not (PREFIX / 'share' / 'rosidl_default_generators').is_dir():
        pytest.skip('the rosidl generator wheels are not installed in this environment')


def test_ament_cmake_build_installs_nodes_and_interfaces(tmp_path):
    """As `colcon build` would: configure, build and install into a prefix, then import."""
    _needs_build_tools()
    source = tmp_path / 'src'
    source.mkdir()
    for name in ('CMakeLists.txt', 'package.xml', 'msg', 'cmake', 'thermostereo_ros', 'scripts',
                 'launch', 'config'):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name)
    install = tmp_path / 'install'
    env = dict(os.environ, AMENT_PREFIX_PATH=str(PREFIX), CMAKE_PREFIX_PATH=str(PREFIX),
               PATH=f'{PREFIX / "bin"}:{os.environ["PATH"]}')
    for command in (['cmake', '-S', str(source), '-B', str(tmp_path / 'build'),
                     f'-DPython3_EXECUTABLE={sys.executable}', f'-DCMAKE_INSTALL_PREFIX={install}',
                     '-DBUILD_TESTING=OFF'],
                    ['cmake', '--build', str(tmp_path / 'build'), '-j', str(os.cpu_count() or 1)],
                    ['cmake', '--install', str(tmp_path / 'build')]):
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    share = install / 'share' / 'thermostereo_ros'
    assert (install / 'lib' / 'thermostereo_ros' / 'thermostereo_node').is_file()
    assert (share / 'launch' / 'thermostereo.launch.py').is_file()
    assert (share / 'config' / 'thermostereo.yaml').is_file()
    assert (install / 'share' / 'ament_index' / 'resource_index' / 'packages' /
            'thermostereo_ros').is_file()
    site = next(install.glob('lib/python3*/site-packages'))
    # Our package, not rosidl's empty __init__.py, with the generated msg/ beside it.
    assert 'ROS-free core' in (site / 'thermostereo_ros' / '__init__.py').read_text()
    probe = ('import thermostereo_ros.msg as m, thermostereo_ros.ros.node\n'
             'assert m.__file__.startswith(sys.argv[1]), m.__file__\n'
             'print(m.StereoStatus(drop_reason="x").drop_reason, '
             'm.StereoEvaluation(pixels=3).pixels)\n')
    env = dict(os.environ, PYTHONPATH=str(site),
               LD_LIBRARY_PATH=f'{install / "lib"}:{os.environ.get("LD_LIBRARY_PATH", "")}')
    result = subprocess.run([sys.executable, '-c', 'import sys\n' + probe, str(site)],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.split() == ['x', '3'], result.stderr
