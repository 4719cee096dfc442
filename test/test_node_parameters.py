# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Parameter checks, launch decisions and message limits, without a running node."""

import os
import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.ros
pytest.importorskip('rcl_interfaces')

from thermostereo_ros.ros import launch_support  # noqa: E402
from thermostereo_ros.ros.conversions import (  # noqa: E402
    depth_to_metres, numpy_to_image, POINT_DTYPE, same_layout)
from thermostereo_ros.ros.dds import segment_size, shipped_profile  # noqa: E402
from thermostereo_ros.ros.outputs import iter_messages, Products, wanted  # noqa: E402
from thermostereo_ros.ros.parameters import (  # noqa: E402
    apply, DEFAULTS, engine_problem, validate)


def test_synchronous_engine_checks_name_the_problem(tmp_path):
    config = dict(DEFAULTS)
    assert engine_problem(config, {'model_path'}) == ''  # '' = the shipped weights
    assert 'does not exist' in engine_problem({**config, 'model_path': '/no/such.safetensors'},
                                              {'model_path'})
    assert 'is a directory' in engine_problem({**config, 'model_path': str(tmp_path)},
                                              {'model_path'})
    assert 'not a regular file' in engine_problem({**config, 'model_path': '/dev/null'},
                                                  {'model_path'})
    import torch
    if not torch.cuda.is_available():
        assert 'CUDA' in engine_problem({**config, 'precision': 'fp16', 'device': 'cpu'},
                                        {'precision'})
        assert 'CUDA' in engine_problem({**config, 'device': 'cuda'}, {'device'})


def test_cross_parameter_rules():
    assert 'min_baseline' in validate({**DEFAULTS, 'min_baseline': 6.0})
    assert 'multiple of 4' in validate({**DEFAULTS, 'max_disparity': 190})


def test_launch_overrides_only_what_the_user_gave():
    assert launch_support.parameter_overrides({'model_path': '', 'max_disparity': '',
                                               'device': ''}) == {}
    assert launch_support.parameter_overrides({'max_disparity': '96'}) == {'max_disparity': 96}
    with pytest.raises(ValueError, match='max_disparity'):
        launch_support.parameter_overrides({'max_disparity': 'many'})


def test_launch_refuses_to_start_on_missing_files(tmp_path, monkeypatch):
    missing = str(tmp_path / 'absent.xml')
    assert missing in launch_support.launch_problem(missing, False, '')
    assert 'params_file' in launch_support.launch_problem('', False, missing)
    monkeypatch.setattr(launch_support, 'rviz_installed', lambda: False)
    assert 'rviz2 is not installed' in launch_support.launch_problem('', True, '')
    assert launch_support.launch_problem(str(shipped_profile()), False, '') is None


def test_rviz_counts_as_installed_only_where_launch_ros_finds_it(tmp_path, monkeypatch):
    # An rviz2 on PATH but not in the ament index: launch_ros could not start it, and the node
    # would be left running without its launch (defect 5 of the ROS contract issue).
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    fake = bin_dir / 'rviz2'
    fake.write_text('#!/bin/sh\nexit 0\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', f"{bin_dir}:{os.environ.get('PATH', '')}")
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path / 'empty_prefix'))
    assert not launch_support.rviz_installed()
    # In an ament prefix with its executable where launch_ros looks: installed.
    prefix = tmp_path / 'prefix'
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'rviz2').write_text('')
    executable = prefix / 'lib' / 'rviz2' / 'rviz2'
    executable.parent.mkdir(parents=True)
    executable.write_text('#!/bin/sh\nexit 0\n')
    executable.chmod(0o755)
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(prefix))
    assert launch_support.rviz_installed()


def test_rviz_follows_the_namespace_and_frame():
    from thermostereo_ros.ros.dds import shipped_profile as profile
    template = (profile().parent / 'thermostereo.rviz').read_text()
    data = yaml.safe_load(launch_support.rviz_config(template, 'thermal', 'cam_left'))
    manager = data['Visualization Manager']
    topics = {d['Topic']['Value'] for d in manager['Displays'] if 'Topic' in d}
    assert {'/thermal/points2', '/thermal/depth', '/thermal/confidence'} <= topics
    assert manager['Global Options']['Fixed Frame'] == 'cam_left'
    data = yaml.safe_load(launch_support.rviz_config(template, '', 'f'))
    topics = {d['Topic']['Value'] for d in data['Visualization Manager']['Displays']
              if 'Topic' in d}
    assert '/points2' in topics


def test_a_params_file_that_sets_nothing_for_the_node_is_named(tmp_path):
    warn = launch_support.params_file_warning
    path = tmp_path / 'mine.yaml'
    for key, applies in (('/**', True), ('**', True), ('/thermal/thermostereo', True),
                         ('/*/thermostereo', True), ('/**/thermostereo', True),
                         ('thermostereo', False), ('/thermostereo', False),
                         ('/other/thermostereo', False)):
        path.write_text(f'{key}:\n  ros__parameters:\n    max_disparity: 96\n')
        text = warn(str(path), '/thermal/thermostereo')
        assert (text is None) == applies, key
        if text:
            assert '/thermal/thermostereo' in text and "'/**:'" in text
    path.write_text('thermostereo:\n  ros__parameters: {max_disparity: 96}\n')
    assert warn(str(path), '/thermostereo') is None       # no namespace: the key applies
    assert warn(str(tmp_path / 'absent.yaml'), '/thermostereo') is None


def test_the_namespace_under_push_ros_namespace():
    ns = launch_support.effective_namespace
    assert ns('', '') == '' and ns('', 'thermal') == '/thermal'
    assert ns('front', '') == '/front' and ns('/front', 'thermal') == '/front/thermal'
    assert ns('front/', '/abs') == '/abs'     # an absolute namespace ignores the pushed one
    from thermostereo_ros.ros.dds import shipped_profile as profile
    template = (profile().parent / 'thermostereo.rviz').read_text()
    assert '/front/points2' in launch_support.rviz_config(template, ns('front', ''), 'f')


def test_rviz_configs_are_one_file_per_namespace_and_no_leftovers(tmp_path, monkeypatch):
    from thermostereo_ros.ros.dds import shipped_profile as profile
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    directory = launch_support.rviz_config_dir()
    template = profile().parent / 'thermostereo.rviz'
    paths = [launch_support.write_rviz_config(template, directory, ns, 'f')
             for ns in ('front', '/front', 'rear/left', '', 'front')]
    assert {p.name for p in paths} == {'thermostereo_front.rviz',
                                       'thermostereo_rear_left.rviz', 'thermostereo_root.rviz'}
    assert sorted(p.name for p in directory.iterdir()) == sorted({p.name for p in paths})
    assert '/rear/left/points2' in paths[2].read_text()


def test_the_largest_accepted_image_fits_the_shipped_dds_profile():
    """max_image_pixels and the profile's segment agree: points2 is the largest output."""
    largest = DEFAULTS['max_image_pixels'] * POINT_DTYPE.itemsize + 64 * 1024  # + headers
    assert largest <= segment_size(shipped_profile())
    assert DEFAULTS['max_image_pixels'] >= 1280 * 1024  # the largest thermal cores sold


def test_depth_ground_truth_in_millimetres_is_read_as_metres():
    from std_msgs.msg import Header
    millimetres = np.array([[0, 1500], [65535, 250]], np.uint16)
    metres = depth_to_metres(numpy_to_image(millimetres, Header(), '16UC1'))
    assert np.isnan(metres[0, 0]) and metres[0, 1] == pytest.approx(1.5)
    assert metres[1, 1] == pytest.approx(0.25)


def test_encodings_with_the_same_layout_pair():
    assert same_layout('mono16', '16UC1') and same_layout('mono8', '8UC1')
    assert not same_layout('mono16', 'mono8') and not same_layout('yuv422', 'yuv422')


def test_outputs_are_built_only_when_switched_on_and_subscribed():
    config = dict(publish_pointcloud=True, publish_depth=False, publish_confidence=True)
    got = wanted(config, dict(disparity=True, points2=False, depth=True, confidence=True))
    assert got == dict(disparity=True, points2=False, depth=False, confidence=True)


def test_messages_come_cheapest_first_and_only_when_asked_for():
    from std_msgs.msg import Header

    from thermostereo_ros.geometry import StereoCamera

    disparity = np.full((4, 6), 2.0, np.float32)
    products = Products(disparity, disparity > 0, np.ones_like(disparity),
                        StereoCamera(100.0, 100.0, 3.0, 3.0, 2.0, 0.1), 100.0, 192.0,
                        np.zeros((4, 6), np.uint16))
    config = dict(min_depth=0.0, max_depth=float('inf'), pointcloud_decimation=1)
    every = dict(disparity=True, points2=True, depth=True, confidence=True)
    messages = iter_messages(products, Header(), every, config)
    # A generator, disparity first: the node publishes it before the point cloud is built.
    topic, first = next(messages)
    assert topic == 'disparity' and first.image.width == 6
    assert [topic for topic, _ in messages] == ['confidence', 'depth', 'points2']
    only = dict(every, depth=False, confidence=False)
    assert [t for t, _ in iter_messages(products, Header(), only, config)] == \
        ['disparity', 'points2']


def test_a_parameter_change_reports_what_changed_and_why_it_is_refused():
    config, changed, problem = apply(DEFAULTS, {'queue_size': 9, 'min_depth': 0.0,
                                                'not_a_parameter': 1})
    assert (config['queue_size'], changed, problem) == (9, {'queue_size'}, '')
    assert 'not_a_parameter' not in config
    _, changed, problem = apply(DEFAULTS, {'min_depth': 50.0, 'max_depth': 10.0})
    assert changed == {'min_depth', 'max_depth'} and 'must be smaller than' in problem


def test_warmup_size_is_width_by_height_and_fits_the_image_limit():
    from thermostereo_ros.ros.parameters import parse_size
    assert parse_size('640x512') == (512, 640) and parse_size('') is None
    for bad in ('640', '640x0', 'axb', '640x512x3'):
        assert 'WIDTHxHEIGHT' in validate({**DEFAULTS, 'warmup_size': bad}), bad
    assert 'max_image_pixels' in validate({**DEFAULTS, 'warmup_size': '4096x4096'})
    assert validate({**DEFAULTS, 'warmup_size': '640x256'}) == ''
