# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""config/thermostereo.yaml and launch/thermostereo.launch.py agree with the node's parameters.

The launch file is read as text/AST so this runs without the launch packages installed.
"""

import ast
import pathlib

import pytest
import yaml

pytestmark = pytest.mark.ros

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = ROOT / 'launch' / 'thermostereo.launch.py'
node = pytest.importorskip('thermostereo_ros.ros.node')
parameters = pytest.importorskip('thermostereo_ros.ros.parameters')

# Launch arguments that are not parameters, and what they feed instead.
TOPIC_ARGUMENTS = {'left_image': 'left/image_rect', 'right_image': 'right/image_rect',
                   'left_camera_info': 'left/camera_info',
                   'right_camera_info': 'right/camera_info'}
OTHER_ARGUMENTS = {'namespace', 'params_file', 'use_rviz'}
# Read by the middleware, not the node: dds_profile only sets the Fast DDS profile variable in
# the environment the node is started with (checked in test_dds_profile_sets_environment).
ENVIRONMENT_ARGUMENTS = {'dds_profile'}


def test_yaml_lists_every_parameter_at_its_default():
    data = yaml.safe_load((ROOT / 'config' / 'thermostereo.yaml').read_text())
    params = data['/**']['ros__parameters']
    assert set(params) == set(parameters.DEFAULTS)
    for name, value in params.items():
        assert value == parameters.DEFAULTS[name], name
        assert type(value) is type(parameters.DEFAULTS[name]), name


def test_yaml_has_a_comment_per_parameter():
    lines = (ROOT / 'config' / 'thermostereo.yaml').read_text().splitlines()
    for index, line in enumerate(lines):
        key = line.strip().split(':')[0]
        if key in parameters.DEFAULTS:
            assert lines[index - 1].strip().startswith('#'), key


def _calls(tree, name):
    for item in ast.walk(tree):
        if isinstance(item, ast.Call) and getattr(item.func, 'id', None) == name:
            yield item


def _function(tree, name):
    return next(f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == name)


def _declared(tree):
    """{name: default expression} of every DeclareLaunchArgument, also inside a generator."""
    out = {}
    for call in _calls(tree, 'DeclareLaunchArgument'):
        default = next(k.value for k in call.keywords if k.arg == 'default_value')
        out[getattr(call.args[0], 'value', getattr(call.args[0], 'id', None))] = default
    return out


def test_every_launch_argument_maps_to_the_node():
    tree = ast.parse(LAUNCH.read_text())
    declared = _declared(tree)
    # The four topic arguments are declared in one generator over TOPIC_ARGUMENTS ('name').
    assert set(declared) == {'namespace', 'name', 'params_file', 'model_path', 'max_disparity',
                             'device', 'use_sim_time', 'use_rviz', 'fixed_frame',
                             'dds_profile', 'left_namespace', 'right_namespace', 'node_name',
                             'log_level', 'respawn', 'approximate_sync',
                             'approximate_sync_tolerance_seconds', 'queue_size'}
    topics = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and getattr(node.targets[0], 'id', None) == 'TOPIC_ARGUMENTS')
    assert ast.literal_eval(topics) == TOPIC_ARGUMENTS
    from thermostereo_ros.ros.launch_support import BOOL_ARGUMENTS, OVERRIDE_ARGUMENTS
    for name in BOOL_ARGUMENTS:
        assert declared[name].value == '', name
    for name in OVERRIDE_ARGUMENTS:
        assert name in parameters.DEFAULTS, name
        # Empty by default, so that the params file decides unless the user gives a value.
        assert declared[name].value == '', name
    thermostereo = next(c for c in _calls(tree, 'Node')
                        if any(k.arg == 'executable' and k.value.value == 'thermostereo_node'
                               for k in c.keywords))
    keywords = {k.arg: k.value for k in thermostereo.keywords}
    assert ast.unparse(keywords['name']) == "arg['node_name']"
    assert ast.unparse(declared['node_name']) == 'NODE_NAME'
    name = next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                and getattr(n.targets[0], 'id', None) == 'NODE_NAME')
    assert ast.literal_eval(name) == node.NODE_NAME


def test_dds_profile_goes_into_the_node_environment_only():
    """dds_profile defaults to the shipped profile, set for the node's process alone."""
    from thermostereo_ros.ros.dds import PROFILE_FILE
    tree = ast.parse(LAUNCH.read_text())
    default = _declared(tree)['dds_profile']
    assert 'PROFILE_FILE' in {getattr(n, 'id', None) for n in ast.walk(default)}
    assert (ROOT / 'config' / PROFILE_FILE).is_file()
    setup = _function(tree, '_setup')
    # No SetEnvironmentVariable: that would leak into every process a parent launch starts.
    assert not list(_calls(setup, 'SetEnvironmentVariable'))
    node_call = next(c for c in _calls(setup, 'Node'))
    assert 'additional_env' in {k.arg for k in node_call.keywords}


def test_node_environment_keeps_a_users_profile():
    from thermostereo_ros.ros.dds import profile_variables
    from thermostereo_ros.ros.launch_support import node_environment
    shipped = str(ROOT / 'config' / 'x.xml')
    variable = profile_variables()[0]
    assert node_environment(shipped, shipped, {}) == {v: shipped for v in profile_variables()}
    assert node_environment('', shipped, {}) == {}
    assert node_environment(shipped, shipped, {variable: '/mine.xml'}) == {}   # the default
    assert node_environment('/other.xml', shipped, {variable: '/mine.xml'}) == {
        v: '/other.xml' for v in profile_variables()}                          # asked for


def test_launch_file_imports_launch_only_inside_itself():
    """The node and package must not need launch at run time."""
    for path in (ROOT / 'thermostereo_ros').rglob('*.py'):
        text = path.read_text()
        assert 'import launch' not in text and 'from launch' not in text, path


def test_rviz_config_shows_outputs():
    text = (ROOT / 'config' / 'thermostereo.rviz').read_text()
    data = yaml.safe_load(text)
    displays = data['Visualization Manager']['Displays']
    by_class = {}
    for display in displays:
        by_class.setdefault(display['Class'], []).append(display.get('Topic', {}).get('Value'))
    # Relative: the launch file puts them under the node's namespace (test_launch_support).
    assert 'points2' in by_class['rviz_default_plugins/PointCloud2']
    assert {'depth', 'confidence'} <= set(by_class['rviz_default_plugins/Image'])


def _installed_launch_file():
    """The launch file as installed (ament index), or skip: the launch needs an install."""
    reason = ('the ROS launch packages are not installed (a PyPI-only ROS venv); runs in a '
              'full ROS 2 install')
    launch = pytest.importorskip('launch', reason=reason)
    if not hasattr(launch, 'LaunchService'):   # this repository's launch/ folder, not launch
        pytest.skip(reason + "; `import launch` found only this repository's launch/ folder")
    pytest.importorskip('launch_ros', reason='launch_ros is not installed')
    from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
    try:
        share = pathlib.Path(get_package_share_directory('thermostereo_ros'))
    except PackageNotFoundError:
        pytest.skip('thermostereo_ros is not installed in an ament prefix (colcon build, or '
                    'AMENT_PREFIX_PATH)')
    return share / 'launch' / 'thermostereo.launch.py'


LAUNCH_DRIVER = """
import sys
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
service = LaunchService()
service.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]),
    launch_arguments=[a.split(':=', 1) for a in sys.argv[2:]]))
sys.exit(service.run())
"""


def _launch(launch_file, *arguments):
    import subprocess
    import sys
    return subprocess.Popen([sys.executable, '-c', LAUNCH_DRIVER, str(launch_file), *arguments],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_launch_file_starts_the_node_under_a_namespace_with_a_params_file(tmp_path):
    """Under the real launch system: params file applies in a namespace, one pair comes out."""
    import os
    import signal
    import time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from stereo_msgs.msg import DisparityImage

    from node_helpers import camera_infos, plane_images, stamp_header, tiny_checkpoint
    from thermostereo_ros.ros.conversions import numpy_to_image

    launch_file = _installed_launch_file()
    namespace = f'launch_test_{os.getpid()}'
    params = tmp_path / 'mine.yaml'
    params.write_text('/**:\n  ros__parameters:\n    max_disparity: 32\n    device: cpu\n'
                      f'    model_path: {tiny_checkpoint(tmp_path)}\n')
    process = _launch(launch_file, f'namespace:={namespace}', f'params_file:={params}',
                      'dds_profile:=')
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('launch_test_driver', namespace=namespace, context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        received = []
        node.create_subscription(DisparityImage, 'disparity', received.append, 5)
        pubs = {topic: node.create_publisher(kind, topic, qos_profile_sensor_data) for topic, kind
                in (('left/image_rect', Image), ('right/image_rect', Image),
                    ('left/camera_info', CameraInfo), ('right/camera_info', CameraInfo))}
        left, right = plane_images()
        deadline = time.monotonic() + 60
        stamp = 1_000_000_000
        while not received and time.monotonic() < deadline and process.poll() is None:
            infos = camera_infos(stamp_ns=stamp)
            pubs['left/camera_info'].publish(infos[0])
            pubs['right/camera_info'].publish(infos[1])
            pubs['left/image_rect'].publish(
                numpy_to_image(left, stamp_header(stamp, 'left_optical')))
            pubs['right/image_rect'].publish(
                numpy_to_image(right, stamp_header(stamp, 'right_optical')))
            executor.spin_once(timeout_sec=0.5)
            stamp += 100_000_000
        assert received, f'no disparity under the namespace; launch rc {process.poll()}'
        # The params file's max_disparity (32) applied under the namespace: no launch override.
        assert received[0].max_disparity <= 32
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C: the whole process group
        output = process.communicate(timeout=30)[0]
        rclpy.try_shutdown(context=context)
    assert process.returncode == 0, output


def test_launch_fails_fast_and_leaves_nothing_behind(tmp_path):
    """A bad model_path ends the launch with an error; a missing profile starts nothing."""
    launch_file = _installed_launch_file()
    process = _launch(launch_file, f'model_path:={tmp_path / "absent.safetensors"}')
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 1 and 'exited with code 1' in output, output
    process = _launch(launch_file, f'dds_profile:={tmp_path / "absent.xml"}')
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 1 and 'absent.xml: no such file' in output, output
    assert 'process started' not in output


def test_use_sim_time_launch_argument():
    from thermostereo_ros.ros.launch_support import parameter_overrides
    assert parameter_overrides({'use_sim_time': 'true'}) == {'use_sim_time': True}
    assert parameter_overrides({'use_sim_time': 'False'}) == {'use_sim_time': False}
    assert parameter_overrides({'use_sim_time': ''}) == {}
    with pytest.raises(ValueError, match='use_sim_time'):
        parameter_overrides({'use_sim_time': 'maybe'})


def test_stereo_image_proc_launch_arguments():
    from thermostereo_ros.ros.launch_support import (input_remappings,
                                                     launch_argument_warnings,
                                                     parameter_overrides)
    assert parameter_overrides({'approximate_sync': 'true', 'queue_size': '10',
                                'approximate_sync_tolerance_seconds': '0.05'}) == {
        'approximate_sync': True, 'queue_size': 10, 'approximate_sync_tolerance_seconds': 0.05}
    assert parameter_overrides({'approximate_sync': 'false'}) == {'approximate_sync': False}
    with pytest.raises(ValueError, match='approximate_sync'):
        parameter_overrides({'approximate_sync': 'sometimes'})
    defaults = {t: t for t in TOPIC_ARGUMENTS.values()}
    remapped = input_remappings(defaults, '/stereo/left', '')
    assert remapped['left/image_rect'] == '/stereo/left/image_rect'
    assert remapped['left/camera_info'] == '/stereo/left/camera_info'
    assert remapped['right/image_rect'] == 'right/image_rect'
    lines = launch_argument_warnings({'disparity_range': '128', 'namespace': ''})
    assert len(lines) == 1 and 'max_disparity' in lines[0] and 'launch argument' in lines[0]


def test_launch_testing_file_under_the_real_launch_system():
    """test/launch/launch_testing_thermostereo.py through `launch_test`, where it can run."""
    import subprocess
    import sys
    _installed_launch_file()
    pytest.importorskip('launch_testing', reason='launch_testing is not installed')
    proc = subprocess.run([sys.executable, '-m', 'launch_testing.launch_test',
                           str(ROOT / 'test' / 'launch' / 'launch_testing_thermostereo.py')],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
