# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Launch the thermostereo node (and optionally RViz) with remappable inputs."""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from thermostereo_ros.ros.dds import PROFILE_FILE, profile_variables


def _dds_profile(context) -> list:
    """Point Fast DDS at `dds_profile` for the processes started after this; '' = leave as is."""
    path = LaunchConfiguration('dds_profile').perform(context)
    if not path:
        return []
    # Fast DDS 2.x (Jazzy) and 3.x (Kilted) read differently named variables; set the one the
    # installed version reads (both when that cannot be told).
    return [SetEnvironmentVariable(name, path) for name in profile_variables()]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, then the node; every argument maps to a remap or parameter.

    The exception is `dds_profile`, which sets the Fast DDS profile variable for the node's
    (and RViz's) environment: it is read by the middleware, not by the node.
    """
    share = get_package_share_directory('thermostereo_ros')
    args = [
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node and its relative topics'),
        DeclareLaunchArgument('left_image', default_value='left/image_rect',
                              description='Rectified left thermal image topic'),
        DeclareLaunchArgument('right_image', default_value='right/image_rect',
                              description='Rectified right thermal image topic'),
        DeclareLaunchArgument('left_camera_info', default_value='left/camera_info',
                              description='Left rectified CameraInfo topic'),
        DeclareLaunchArgument('right_camera_info', default_value='right/camera_info',
                              description='Right rectified CameraInfo topic'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'thermostereo.yaml'),
                              description='YAML with thermostereo parameters'),
        DeclareLaunchArgument('model_path', default_value='',
                              description='Checkpoint; empty = shipped weights'),
        DeclareLaunchArgument('max_disparity', default_value='192',
                              description='Largest disparity in pixels (multiple of 4)'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='auto, cuda or cpu'),
        DeclareLaunchArgument('use_rviz', default_value='false',
                              description='Also start RViz with config/thermostereo.rviz'),
        DeclareLaunchArgument('dds_profile',
                              default_value=os.path.join(share, 'config', PROFILE_FILE),
                              description='Fast DDS XML profile for the node (the shipped one '
                                          'has a 16 MiB shared-memory segment, so 640x512 '
                                          'images are not dropped); empty = do not set'),
    ]
    node = Node(
        package='thermostereo_ros',
        executable='thermostereo_node',
        name='thermostereo',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        # Later entries win: explicit launch arguments override the params file.
        parameters=[
            LaunchConfiguration('params_file'),
            {
                'model_path': LaunchConfiguration('model_path'),
                'max_disparity': ParameterValue(LaunchConfiguration('max_disparity'),
                                                value_type=int),
                'device': LaunchConfiguration('device'),
            },
        ],
        remappings=[
            ('left/image_rect', LaunchConfiguration('left_image')),
            ('right/image_rect', LaunchConfiguration('right_image')),
            ('left/camera_info', LaunchConfiguration('left_camera_info')),
            ('right/camera_info', LaunchConfiguration('right_camera_info')),
        ],
    )
    rviz = Node(
        package='rviz2', executable='rviz2', name='rviz2', output='screen',
        arguments=['-d', os.path.join(share, 'config', 'thermostereo.rviz')],
        condition=IfCondition(LaunchConfiguration('use_rviz')),
    )
    return LaunchDescription(args + [OpaqueFunction(function=_dds_profile), node, rviz])
