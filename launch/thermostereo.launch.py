# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Launch the thermostereo node (and optionally RViz) with remappable inputs.

Examples:
  ros2 launch thermostereo_ros thermostereo.launch.py namespace:=thermal \
      params_file:=mine.yaml use_rviz:=true
Arguments left empty (model_path, max_disparity, device) do not override the params file.
The launch fails, before starting anything, on a missing dds_profile or params_file, or
use_rviz:=true without rviz2; and it ends, with an error, when the node exits with an error.
"""

import os
import pathlib

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument, LogInfo, OpaqueFunction, RegisterEventHandler, Shutdown)
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from thermostereo_ros.ros import launch_support
from thermostereo_ros.ros.dds import PROFILE_FILE

NODE_NAME = 'thermostereo'
TOPIC_ARGUMENTS = {'left_image': 'left/image_rect', 'right_image': 'right/image_rect',
                   'left_camera_info': 'left/camera_info',
                   'right_camera_info': 'right/camera_info'}


def _node_exited(event, context):
    """End the launch when the node ends; an exit code other than 0 fails the launch."""
    if event.returncode not in (0, None):
        # An exception here makes `ros2 launch` shut everything down and return 1.
        raise RuntimeError(f'thermostereo_node exited with code {event.returncode} (see its '
                           'error above)')
    return [Shutdown(reason='thermostereo_node exited')]


def _setup(context) -> list:
    """Check the arguments, then build the environment, the node and RViz."""
    arg = {name: LaunchConfiguration(name).perform(context) for name in (
        'namespace', 'params_file', 'use_rviz', 'dds_profile', 'fixed_frame', 'node_name',
        'log_level', 'respawn', 'left_namespace', 'right_namespace',
        *TOPIC_ARGUMENTS, *launch_support.OVERRIDE_ARGUMENTS, *launch_support.BOOL_ARGUMENTS)}
    use_rviz = arg['use_rviz'].lower() in ('true', '1', 'yes')
    problem = launch_support.launch_problem(arg['dds_profile'], use_rviz, arg['params_file'])
    if problem:
        raise RuntimeError(problem)
    namespace = launch_support.effective_namespace(
        context.launch_configurations.get('ros_namespace', ''), arg['namespace'])
    warnings = launch_support.launch_argument_warnings(context.launch_configurations)
    if arg['params_file']:
        warnings.append(launch_support.params_file_warning(
            arg['params_file'], f"{namespace}/{arg['node_name']}"))
    actions = [LogInfo(msg=f'[WARN] {text}') for text in warnings if text]
    # The profile goes into the node's own environment only, so that a parent launch file's
    # later processes keep theirs; a profile the user already set wins over our default.
    environment = launch_support.node_environment(
        arg['dds_profile'],
        os.path.join(get_package_share_directory('thermostereo_ros'), 'config', PROFILE_FILE),
        os.environ)
    parameters = [arg['params_file']] if arg['params_file'] else []
    overrides = launch_support.parameter_overrides(arg)
    if overrides:
        parameters.append(overrides)  # later entries win over the params file
    remaps = launch_support.input_remappings(
        {topic: arg[name] for name, topic in TOPIC_ARGUMENTS.items()},
        arg['left_namespace'], arg['right_namespace'])
    respawn = arg['respawn'].strip().lower() in ('true', '1', 'yes')
    node = Node(package='thermostereo_ros', executable='thermostereo_node',
                name=arg['node_name'], namespace=arg['namespace'], output='screen',
                parameters=parameters, remappings=list(remaps.items()),
                additional_env=environment, respawn=respawn,
                ros_arguments=['--log-level', arg['log_level']])
    actions.append(node)
    if not respawn:  # a respawned node's exit is not the end of the launch
        actions.append(RegisterEventHandler(OnProcessExit(target_action=node,
                                                          on_exit=_node_exited)))
    if use_rviz:
        share = pathlib.Path(get_package_share_directory('thermostereo_ros'))
        # Included under GroupAction([PushRosNamespace('front'), ...]) the node lands in
        # /front/<namespace>: RViz's absolute topics must say so too.
        config = launch_support.write_rviz_config(
            share / 'config' / 'thermostereo.rviz', launch_support.rviz_config_dir(),
            namespace, arg['fixed_frame'])
        sim_time = {k: v for k, v in overrides.items() if k == 'use_sim_time'}
        actions.append(Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
                            namespace=arg['namespace'], arguments=['-d', str(config)],
                            parameters=[sim_time] if sim_time else []))
    return actions


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments; everything else is decided in _setup once they are known."""
    share = get_package_share_directory('thermostereo_ros')
    args = [
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node and its relative topics'),
        *(DeclareLaunchArgument(name, default_value=topic, description=f'Input for {topic}')
          for name, topic in TOPIC_ARGUMENTS.items()),
        DeclareLaunchArgument('left_namespace', default_value='',
                              description='stereo_image_proc\'s shorthand: <ns>/image_rect and '
                                          '<ns>/camera_info as the left inputs'),
        DeclareLaunchArgument('right_namespace', default_value='',
                              description='Likewise for the right inputs'),
        DeclareLaunchArgument('node_name', default_value=NODE_NAME,
                              description='Name of the node'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='The node\'s log level (debug, info, warn, error)'),
        DeclareLaunchArgument('respawn', default_value='false',
                              description='Restart the node if it exits'),
        DeclareLaunchArgument('approximate_sync', default_value='',
                              description='Pair by nearest stamp (unsynchronised cameras); '
                                          'empty = the params file\'s value'),
        DeclareLaunchArgument('approximate_sync_tolerance_seconds', default_value='',
                              description='Largest stamp difference paired; empty = the params '
                                          'file\'s value'),
        DeclareLaunchArgument('queue_size', default_value='',
                              description='Messages kept per input while waiting for a '
                                          'partner; empty = the params file\'s value'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'thermostereo.yaml'),
                              description='YAML with thermostereo parameters (any namespace)'),
        DeclareLaunchArgument('model_path', default_value='',
                              description='Checkpoint; empty = the params file\'s value'),
        DeclareLaunchArgument('max_disparity', default_value='',
                              description='Largest disparity in pixels (multiple of 4); empty '
                                          '= the params file\'s value'),
        DeclareLaunchArgument('device', default_value='',
                              description='auto, cuda or cpu; empty = the params file\'s value'),
        DeclareLaunchArgument('use_sim_time', default_value='',
                              description='true to run on /clock (bags played with --clock, '
                                          'simulators); empty = the params file\'s value'),
        DeclareLaunchArgument('use_rviz', default_value='false',
                              description='Also start RViz with config/thermostereo.rviz'),
        DeclareLaunchArgument('fixed_frame', default_value=launch_support.DEFAULT_FIXED_FRAME,
                              description='RViz Fixed Frame: the left image\'s frame_id'),
        DeclareLaunchArgument('dds_profile',
                              default_value=os.path.join(share, 'config', PROFILE_FILE),
                              description='Fast DDS XML profile for the node (the shipped one '
                                          'has a 32 MiB shared-memory segment, so that '
                                          'images up to max_image_pixels and their point '
                                          'clouds are not dropped); empty = do not set'),
    ]
    return LaunchDescription(args + [OpaqueFunction(function=_setup)])
