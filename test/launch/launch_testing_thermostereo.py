# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""launch_testing: the package's launch file under a namespace with a params file, fed a
generated bag by `thermostereo replay`; outputs, status, diagnostics and exit codes checked.

Run by `colcon test` (CMakeLists.txt: add_launch_test) or `launch_test` on this file. Its
name matches neither `test_*.py` nor `*_test.py`, so plain pytest does not collect it:
launch_testing's pytest plugin fails on pytest >= 8.1 with older launch (ros2/launch#979),
and the pip venvs
have no launch at all (test/test_launch_config.py runs it through `launch_test` where it can,
and skips with the reason where it cannot).
"""

import os
import pathlib
import sys
import tempfile
import threading
import time
import unittest

from ament_index_python.packages import get_package_share_directory
import launch
from launch.actions import ExecuteProcess, IncludeLaunchDescription, TimerAction
from launch.launch_description_sources import PythonLaunchDescriptionSource
import launch_testing
import launch_testing.actions
import launch_testing.asserts
import pytest

NAMESPACE = 'thermal'          # the generated bag's topics are /thermal/...
FRAMES = 8
HEIGHT, WIDTH = 128, 320
MAX_DISPARITY = 96
MIN_OUTPUTS = 4                # pairs may be superseded under load; most must come out


def _bag(work: pathlib.Path) -> pathlib.Path:
    """Render one short synthetic street sequence and write it as a rosbag2 (mcap)."""
    from thermostereo_ros.bags.ms2_to_bag import convert_sequence
    from thermostereo_ros.data.ms2_writer import write_dataset

    splits = write_dataset(str(work / 'ms2'), 1, FRAMES, HEIGHT, WIDTH, 7, ('day',),
                           MAX_DISPARITY)
    sequence = splits['test_day'][0]
    out = work / 'bag'
    convert_sequence(work / 'ms2', sequence, out, progress=False)
    return out


@pytest.mark.launch_test
def generate_test_description():
    work = pathlib.Path(tempfile.mkdtemp(prefix='thermostereo_launch_test_'))
    params = work / 'params.yaml'
    # warmup_size: warmed up before the node subscribes, so the replay (which waits for a
    # subscriber) starts only when the first pair will be as fast as the others.
    params.write_text(f'/**:\n  ros__parameters:\n    max_disparity: {MAX_DISPARITY}\n'
                      f'    device: cpu\n    warmup_size: {WIDTH}x{HEIGHT}\n')
    share = get_package_share_directory('thermostereo_ros')
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'thermostereo.launch.py')),
        launch_arguments={'namespace': NAMESPACE, 'params_file': str(params)}.items())
    replay = ExecuteProcess(
        cmd=[sys.executable, '-m', 'thermostereo_ros.cli.main', 'replay', str(_bag(work)),
             '--wait-for-subscribers', '1', '--wait-timeout', '60'],
        output='screen')
    # The tests subscribe once ReadyToTest fires; the replay starts a few seconds later.
    return launch.LaunchDescription([
        include, TimerAction(period=5.0, actions=[replay]),
        launch_testing.actions.ReadyToTest()]), {'replay': replay}


class TestOutputs(unittest.TestCase):

    def test_outputs_status_and_diagnostics(self, replay, proc_info):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
        from sensor_msgs.msg import PointCloud2
        from stereo_msgs.msg import DisparityImage

        from thermostereo_ros.ros import status

        context = rclpy.Context()
        rclpy.init(context=context)
        got = {'disparity': [], 'points2': [], 'status': [], 'diagnostics': []}
        try:
            node = rclpy.create_node('launch_test_listener', context=context)
            node.create_subscription(DisparityImage, f'/{NAMESPACE}/disparity',
                                     got['disparity'].append, 10)
            node.create_subscription(PointCloud2, f'/{NAMESPACE}/points2',
                                     got['points2'].append, 10)
            node.create_subscription(DiagnosticArray, '/diagnostics',
                                     got['diagnostics'].append, 10)
            if status.AVAILABLE:
                node.create_subscription(status.StereoStatus,
                                         f'/{NAMESPACE}/thermostereo/status',
                                         got['status'].append, 10)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)

            def spin() -> None:
                try:
                    executor.spin()
                except ExternalShutdownException:   # the context is shut down below
                    pass
            spinner = threading.Thread(target=spin, daemon=True)
            spinner.start()
            # The whole bag is played (the replay exits 0 by itself), then the last outputs
            # get a moment to arrive.
            proc_info.assertWaitForShutdown(process=replay, timeout=120)
            time.sleep(3.0)
        finally:
            rclpy.try_shutdown(context=context)
        self.assertGreaterEqual(len(got['disparity']), MIN_OUTPUTS)
        self.assertGreaterEqual(len(got['points2']), MIN_OUTPUTS)
        for msg in got['disparity']:
            self.assertEqual(msg.header.frame_id, got['points2'][0].header.frame_id)
            self.assertLessEqual(msg.max_disparity, MAX_DISPARITY)
            self.assertGreater(msg.header.stamp.sec, 0)   # the bag's stamps, not zero
        stamps = [m.header.stamp.sec * 10 ** 9 + m.header.stamp.nanosec
                  for m in got['disparity']]
        self.assertEqual(stamps, sorted(stamps))
        self.assertTrue(got['diagnostics'], 'no /diagnostics')
        if status.AVAILABLE:
            self.assertTrue(got['status'], 'no ~/status')


@launch_testing.post_shutdown_test()
class TestExit(unittest.TestCase):

    def test_exit_codes(self, proc_info):
        # The node ends on launch shutdown (SIGINT): 0; the replay ends by itself: 0.
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0])
