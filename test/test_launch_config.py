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
                             'device', 'use_rviz', 'fixed_frame', 'dds_profile'}
    topics = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and getattr(node.targets[0], 'id', None) == 'TOPIC_ARGUMENTS')
    assert ast.literal_eval(topics) == TOPIC_ARGUMENTS
    from thermostereo_ros.ros.launch_support import OVERRIDE_ARGUMENTS
    for name in OVERRIDE_ARGUMENTS:
        assert name in parameters.DEFAULTS, name
        # Empty by default, so that the params file decides unless the user gives a value.
        assert declared[name].value == '', name
    thermostereo = next(c for c in _calls(tree, 'Node')
                        if any(k.arg == 'executable' and k.value.value == 'thermostereo_node'
                               for k in c.keywords))
    keywords = {k.arg: k.value for k in thermostereo.keywords}
    assert keywords['name'].value == node.NODE_NAME


def test_dds_profile_is_set_before_the_node_starts():
    """dds_profile defaults to the shipped profile and is set before the node is created."""
    from thermostereo_ros.ros.dds import PROFILE_FILE
    tree = ast.parse(LAUNCH.read_text())
    default = _declared(tree)['dds_profile']
    assert 'PROFILE_FILE' in {getattr(n, 'id', None) for n in ast.walk(default)}
    assert (ROOT / 'config' / PROFILE_FILE).is_file()
    setup = _function(tree, '_setup')
    environment = next(_calls(setup, 'SetEnvironmentVariable'))
    node_call = next(c for c in _calls(setup, 'Node'))
    assert environment.lineno < node_call.lineno


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
