# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""640x512 mono16 images over sensor-data QoS reach the node with the shipped Fast DDS profile.

Fast DDS's default 512 KiB shared-memory segment silently drops best-effort samples larger
than that, so a 640 KiB mono16 image never arrives. Fast DDS reads its profile file once per
process, when the first participant is created, and pytest's process may already have one: so
both the node and the publishing driver run as subprocesses started with the profile variable.
The driver is this file run as a script.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ros

HEIGHT, WIDTH = 512, 640
RESULT_PREFIX = 'RESULT '
PAIRS = 5


def _profile_env():
    from thermostereo_ros.ros.dds import PROFILE_VARIABLES, profile_environment, shipped_profile
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    env.update(profile_environment(shipped_profile()), PYTHONUNBUFFERED='1')
    return env


def test_640x512_mono16_pair_reaches_the_node_with_the_shipped_profile(tmp_path):
    pytest.importorskip('rclpy')
    pytest.importorskip('torch')
    from node_helpers import tiny_checkpoint

    checkpoint = tiny_checkpoint(tmp_path)
    namespace = f'/large_data_{os.getpid()}'
    env = _profile_env()
    node = subprocess.Popen(
        [sys.executable, '-m', 'thermostereo_ros.ros.main', '--ros-args',
         '-p', f'model_path:={checkpoint}', '-p', 'device:=cpu', '-r', f'__ns:={namespace}'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        driver = subprocess.run([sys.executable, __file__, namespace], capture_output=True,
                                text=True, env=env, timeout=150)
    finally:
        node.send_signal(signal.SIGINT)
        node_output = node.communicate(timeout=30)[0]
    lines = [line for line in driver.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert driver.returncode == 0 and lines, driver.stdout + driver.stderr + node_output
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    # The pairs reached the node, and it answered with a full-size disparity. Without the
    # profile 0 (Jazzy) or 1 (Kilted) of 5 arrived here; one loss is allowed because best
    # effort may still drop a sample on a loaded machine.
    assert result['pairs_sent'] == PAIRS, (result, node_output)
    assert result['pairs_in'] >= PAIRS - 1, (result, node_output)
    assert result['disparity'] == [HEIGHT, WIDTH], (result, node_output)


def _drive(namespace: str, pairs: int = PAIRS, interval: float = 1.0,
           timeout: float = 120.0) -> dict:
    """Publish `pairs` 640x512 mono16 pairs; report the node's pairs_in and the disparities."""
    import array

    import numpy as np
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from stereo_msgs.msg import DisparityImage

    from thermostereo_ros.tools.bench_node import camera_infos

    rclpy.init()
    node = rclpy.create_node('large_image_driver', namespace=namespace)
    pubs = {name: node.create_publisher(kind, name, qos_profile_sensor_data)
            for name, kind in (('left/image_rect', Image), ('right/image_rect', Image),
                               ('left/camera_info', CameraInfo),
                               ('right/camera_info', CameraInfo))}
    received, pairs_in = [], [-1]

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.endswith(': stereo depth'):
                pairs_in[0] = int({kv.key: kv.value for kv in status.values}['pairs_in'])

    node.create_subscription(DisparityImage, 'disparity', received.append, 5)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    left_info, right_info = camera_infos(HEIGHT, WIDTH, fx=400.0, baseline=0.3)
    rng = np.random.default_rng(0)
    images = {}
    for side, info in (('left', left_info), ('right', right_info)):
        msg = Image(height=HEIGHT, width=WIDTH, encoding='mono16', is_bigendian=0,
                    step=WIDTH * 2)
        msg.header.frame_id = info.header.frame_id
        msg.data = array.array('B', rng.integers(20000, 30000, (HEIGHT, WIDTH),
                                                 dtype='<u2').tobytes())
        images[side] = msg
    deadline = time.monotonic() + timeout
    sent, next_send, settle = 0, 0.0, math.inf
    # Wait for the node (it subscribes once its model is loaded), send the pairs at `interval`,
    # then wait until the node's 1 Hz diagnostics have counted them and outputs have arrived.
    while time.monotonic() < min(deadline, settle):
        rclpy.spin_once(node, timeout_sec=0.05)
        ready = all(p.get_subscription_count() > 0 for p in pubs.values())
        if ready and sent < pairs and time.monotonic() >= next_send:
            stamp = node.get_clock().now().to_msg()
            for side, info in (('left', left_info), ('right', right_info)):
                info.header.stamp = images[side].header.stamp = stamp
                pubs[f'{side}/camera_info'].publish(info)
            for side in ('left', 'right'):
                pubs[f'{side}/image_rect'].publish(images[side])
            sent += 1
            next_send = time.monotonic() + interval
            if sent == pairs:
                settle = time.monotonic() + 10.0
        if sent == pairs and pairs_in[0] >= pairs and received:
            break
    result = {'pairs_sent': sent, 'pairs_in': pairs_in[0], 'disparities': len(received),
              'disparity': None}
    if received:
        result['disparity'] = [received[0].image.height, received[0].image.width]
    node.destroy_node()
    rclpy.try_shutdown()
    return result


if __name__ == '__main__':
    print(RESULT_PREFIX + json.dumps(_drive(sys.argv[1])), flush=True)
