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
    params = data['thermostereo']['ros__parameters']
    assert set(params) == set(node.DEFAULTS)
    for name, value in params.items():
        assert value == node.DEFAULTS[name], name
        assert type(value) is type(node.DEFAULTS[name]), name


def test_yaml_has_a_comment_per_parameter():
    lines = (ROOT / 'config' / 'thermostereo.yaml').read_text().splitlines()
    for index, line in enumerate(lines):
        key = line.strip().split(':')[0]
        if key in node.DEFAULTS:
            assert lines[index - 1].strip().startswith('#'), key


def _calls(tree, name):
    for item in ast.walk(tree):
        if isinstance(item, ast.Call) and getattr(item.func, 'id', None) == name:
            yield item


def _launch_config_name(value):
    """'x' for LaunchConfiguration('x'), also when wrapped in ParameterValue(...)."""
    for call in _calls(value, 'LaunchConfiguration'):
        return call.args[0].value
    return None


def test_every_launch_argument_maps_to_the_node():
    tree = ast.parse(LAUNCH.read_text())
    declared = {call.args[0].value for call in _calls(tree, 'DeclareLaunchArgument')}
    assert declared == {'namespace', 'left_image', 'right_image', 'left_camera_info',
                        'right_camera_info', 'params_file', 'model_path', 'max_disparity',
                        'device', 'use_rviz', 'dds_profile'}
    thermostereo = next(c for c in _calls(tree, 'Node')
                        if any(k.arg == 'executable' and k.value.value == 'thermostereo_node'
                               for k in c.keywords))
    keywords = {k.arg: k.value for k in thermostereo.keywords}
    assert keywords['name'].value == node.NODE_NAME
    parameter_args = {}
    for item in ast.walk(keywords['parameters']):
        if isinstance(item, ast.Dict):
            for key, value in zip(item.keys, item.values):
                parameter_args[_launch_config_name(value)] = key.value
    for argument, parameter in parameter_args.items():
        assert parameter == argument and parameter in node.DEFAULTS, argument
    remaps = {_launch_config_name(pair.elts[1]): pair.elts[0].value
              for pair in keywords['remappings'].elts}
    assert remaps == TOPIC_ARGUMENTS
    assert _launch_config_name(keywords['namespace']) == 'namespace'
    assert _launch_config_name(keywords['parameters'].elts[0]) == 'params_file'
    covered = set(parameter_args) | set(remaps) | OTHER_ARGUMENTS | ENVIRONMENT_ARGUMENTS
    assert declared <= covered, declared - covered


def test_dds_profile_sets_environment():
    """dds_profile defaults to the shipped profile and feeds SetEnvironmentVariable."""
    from thermostereo_ros.ros.dds import PROFILE_FILE
    tree = ast.parse(LAUNCH.read_text())
    declaration = next(c for c in _calls(tree, 'DeclareLaunchArgument')
                       if c.args[0].value == 'dds_profile')
    default = next(k.value for k in declaration.keywords if k.arg == 'default_value')
    assert 'PROFILE_FILE' in {getattr(n, 'id', None) for n in ast.walk(default)}
    assert (ROOT / 'config' / PROFILE_FILE).is_file()
    function = next(f for f in ast.walk(tree)
                    if isinstance(f, ast.FunctionDef) and f.name == '_dds_profile')
    assert [_launch_config_name(c) for c in _calls(function, 'LaunchConfiguration')] == \
        ['dds_profile']
    assert list(_calls(function, 'SetEnvironmentVariable'))
    # Run before the node, so the node's process starts with the variable set.
    description = next(_calls(tree, 'LaunchDescription'))
    entities = [getattr(e.func, 'id', None) if isinstance(e, ast.Call) else getattr(e, 'id', None)
                for e in ast.walk(description.args[0]) if isinstance(e, (ast.Call, ast.Name))]
    assert entities.index('OpaqueFunction') < entities.index('node')


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
    assert '/points2' in by_class['rviz_default_plugins/PointCloud2']
    assert {'/depth', '/confidence'} <= set(by_class['rviz_default_plugins/Image'])


def test_launch_with_launch_testing(tmp_path):
    """Where launch_testing exists, the launch file must at least produce a description."""
    pytest.importorskip('launch_testing', reason='launch_testing is not installed (a PyPI-only '
                                                 'ROS venv); runs in a full ROS 2 install')
    pytest.importorskip('launch_ros', reason='launch_ros is not installed')
    import importlib.util
    spec = importlib.util.spec_from_file_location('thermostereo_launch', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {getattr(e, 'name', None) for e in description.entities}
    assert {'namespace', 'model_path', 'use_rviz'} <= names
