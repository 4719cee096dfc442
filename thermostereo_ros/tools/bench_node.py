# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""End-to-end benchmark of the thermostereo node through real DDS (used by `thermostereo bench`).

The node runs as its own process (`python -m thermostereo_ros.ros.main --ros-args ...`), as it
would in a deployment. This process publishes synchronised left/right images and camera_infos
at a fixed rate (sensor-data QoS, like a camera driver), receives `disparity` and `points2`,
and reads the node's `/diagnostics`. Latency is input stamp to receipt here; stamps are taken
from the system clock, which is also the node's ROS clock (no sim time), so both ends share
one clock on one machine.

With a profile file, the node runs under tools/node_profile.py (cProfile in every thread).
"""

from __future__ import annotations

import itertools
import os
import pathlib
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from thermostereo_ros.inference.shifted_texture import synthetic_pair
from thermostereo_ros.ros import diagnostics as keys, status
from thermostereo_ros.ros.conversions import numpy_to_image
from thermostereo_ros.ros.dds import apply_profile
from thermostereo_ros.ros.stamps import set_stamp, stamp_ns
from thermostereo_ros.tools.bench_node_figures import (breakdown, camera_infos, count_outcomes,
                                                       counter_deltas, offline_components_ms,
                                                       stages, status_deltas, status_summary,
                                                       topic_summary)
from thermostereo_ros.tools.collector import NodeReports
from thermostereo_ros.tools.node_process import node_command, NodeProcess, wait_until
from thermostereo_ros.tools.node_profile import profile_summary

_RUN_IDS = itertools.count()


class _Collector(NodeReports):
    """Receipt times per output topic, plus what the node reported (NodeReports)."""

    def __init__(self) -> None:
        super().__init__(lambda name: name.endswith(keys.STATUS_SUFFIX))
        self.receipts: Dict[str, Dict[int, int]] = {'disparity': {}, 'points2': {}}

    def on_output(self, topic: str, msg: Any) -> None:
        now = time.time_ns()
        with self.lock:
            self.receipts[topic].setdefault(stamp_ns(msg.header), now)

    def clear(self) -> None:
        with self.lock:
            for box in self.receipts.values():
                box.clear()
        self.clear_frames()


def _node_command(checkpoint: pathlib.Path, namespace: str, device: str, precision: str,
                  profile_out: Optional[pathlib.Path], warmup_size: str = '',
                  export_cache: bool = False) -> List[str]:
    ros_args = ['-p', f'model_path:={checkpoint}', '-p', f'device:={device}',
                '-p', f'precision:={precision}',
                '-p', f'export_cache:={"true" if export_cache else "false"}',
                '-r', f'__ns:={namespace}']
    if warmup_size:
        ros_args += ['-p', f'warmup_size:={warmup_size}']
    if profile_out is not None:
        return [sys.executable, '-m', 'thermostereo_ros.tools.node_profile', 'profile-node',
                str(profile_out), '--ros-args', *ros_args]
    return node_command(ros_args)


def run_node_bench(checkpoint: pathlib.Path, size: Tuple[int, int], rate_hz: float = 10.0,
                   pairs: int = 100, device: str = 'auto', precision: str = 'auto',
                   profile_out: Optional[pathlib.Path] = None, start_timeout: float = 120.0,
                   first_output_timeout: float = 120.0,
                   warm_up_first: bool = False,
                   export_cache_home: Optional[str] = None,
                   dds_profile: str = 'large-shm') -> Dict[str, Any]:
    """Run the node as a subprocess, feed it `pairs` pairs at `rate_hz`, return the results.

    `dds_profile` is applied to this process and the node first (`ros/dds.py`): with Fast
    DDS's default 512 KiB shared-memory segment most 640x256 pairs are lost, so a bench
    without the package's profile measures the transport, not the node.
    `warm_up_first` starts the node with warmup_size set to `size`. Without
    `export_cache_home` the node's export cache is off, so the first output is timed as on a
    first start; with it, the node keeps its cache under that folder (its XDG_CACHE_HOME),
    and a second run with the same folder times a restart.
    """
    dds = apply_profile(dds_profile)
    height, width = size
    namespace = f'/tsbench_{os.getpid()}_{next(_RUN_IDS)}'
    result: Dict[str, Any] = {'size': f'{width}x{height}', 'rate_hz': rate_hz,
                              'warmup_size': f'{width}x{height}' if warm_up_first else '',
                              'namespace': namespace, 'qos_input': 'sensor data (best effort)',
                              'export_cache': export_cache_home or 'off', **dds}
    env = None if export_cache_home is None else {**os.environ,
                                                  'XDG_CACHE_HOME': export_cache_home}
    node_proc = NodeProcess(_node_command(checkpoint, namespace, device, precision,
                                          profile_out, f'{width}x{height}' * warm_up_first,
                                          export_cache_home is not None), env=env)
    feed: Optional[_Feed] = None
    try:
        feed = _Feed(namespace, height, width)
        feed.wait_matched(start_timeout, node_proc)
        result.update(_first_output(feed, node_proc, rate_hz, first_output_timeout))
        result.update(_steady_run(feed, pairs, rate_hz))
    finally:
        if feed is not None:
            feed.close()
        result['node_exit_code'] = node_proc.stop()
    if profile_out is not None:
        result.update(profile_summary(profile_out))
    return result


class _Feed:
    """A bench node in its own context: the camera's publishers, the outputs' subscribers."""

    def __init__(self, namespace: str, height: int, width: int) -> None:
        self.fx, self.baseline = 0.9 * width, 0.24
        self.left, right = synthetic_pair(height, width, 24)
        self.left_info, self.right_info = camera_infos(height, width, self.fx, self.baseline)
        self.left_msg = numpy_to_image(self.left, Header(frame_id=self.left_info.header.frame_id),
                                       'mono16')
        self.right_msg = numpy_to_image(right, Header(frame_id=self.right_info.header.frame_id),
                                        'mono16')
        self._rclpy, self.context = rclpy, rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('thermostereo_bench', namespace=namespace,
                                      context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.collector = _Collector()
        self.pubs = {key: self.node.create_publisher(kind, topic, qos_profile_sensor_data)
                     for key, kind, topic in (
                         ('left_image', Image, 'left/image_rect'),
                         ('right_image', Image, 'right/image_rect'),
                         ('left_info', CameraInfo, 'left/camera_info'),
                         ('right_info', CameraInfo, 'right/camera_info'))}
        collector = self.collector
        self.subs = [self.node.create_subscription(
            kind, topic, lambda m, t=topic: collector.on_output(t, m), QoSProfile(depth=10))
            for kind, topic in ((DisparityImage, 'disparity'), (PointCloud2, 'points2'))]
        self.node.create_subscription(DiagnosticArray, '/diagnostics',
                                      collector.on_diagnostics, 10)
        if status.AVAILABLE:
            self.node.create_subscription(status.StereoStatus, 'thermostereo/status',
                                          collector.on_status, QoSProfile(depth=100))

        def spin() -> None:
            try:
                self.executor.spin()
            except ExternalShutdownException:
                pass

        self.spinner = threading.Thread(target=spin, daemon=True)
        self.spinner.start()

    def wait_matched(self, timeout: float, node_proc: NodeProcess) -> None:
        """Wait until the node's inputs and outputs are matched with ours."""
        wait_until(lambda: all(p.get_subscription_count() > 0 for p in self.pubs.values())
                   and all(s.get_publisher_count() > 0 for s in self.subs), timeout, node_proc,
                   'the node to load its model and match topics')

    def send(self, stamp: int) -> None:
        """Publish one pair with its camera_infos at `stamp`."""
        # The same pre-built messages every time: only the stamps change, so the publisher's
        # own cost stays small and constant.
        for msg in (self.left_info, self.right_info, self.left_msg, self.right_msg):
            set_stamp(msg.header, stamp)
        self.pubs['left_info'].publish(self.left_info)
        self.pubs['right_info'].publish(self.right_info)
        self.pubs['left_image'].publish(self.left_msg)
        self.pubs['right_image'].publish(self.right_msg)

    def close(self) -> None:
        """Stop spinning and leave the context."""
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)
        self.spinner.join(2.0)


def _first_output(feed: _Feed, node_proc: NodeProcess, rate_hz: float,
                  timeout: float) -> Dict[str, Any]:
    """Send pairs at the rate until outputs come back; how long the first one took, and why.

    Start-up as a driver does it: calibration and images from the first pair on. The first
    output's delay after the first pair is what a robot waits at start-up.
    """
    collector = feed.collector
    result: Dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    first_sent, warm_stamps = time.time_ns(), []
    while not collector.receipts['points2'] or not collector.receipts['disparity']:
        if not node_proc.alive() or time.monotonic() > deadline:
            raise RuntimeError('no output from the node during warm-up; node output:\n'
                               + node_proc.tail())
        warm_stamps.append(time.time_ns())
        feed.send(warm_stamps[-1])
        time.sleep(1.0 / rate_hz)
    with collector.lock:
        stamp, received = min(collector.receipts['disparity'].items(), key=lambda kv: kv[1])
    result['first_output_ms'] = (received - first_sent) / 1e6
    # Whether the first pairs were answered at all, apart from how fast: a pair lost while
    # DDS still matches the endpoints is not a slow first frame.
    result['first_output_latency_ms'] = (received - stamp) / 1e6
    result['pairs_before_first_output'] = sum(s < stamp for s in warm_stamps)
    # Where the first output's time went, by the node's own ~/status for that pair (where
    # msg/ is built): whether a slow first frame is the network, the queue or the messages.
    time.sleep(0.2)  # the status is published after the outputs
    with collector.lock:
        first_status = [r for r in collector.statuses if r.stamp == stamp]
        result['warmup_outcomes'] = count_outcomes(
            [r for r in collector.statuses if r.stamp <= stamp])
    if first_status:
        result['first_output_stages_ms'] = stages(first_status[0])
    for _ in range(5):
        feed.send(time.time_ns())
        time.sleep(1.0 / rate_hz)
    time.sleep(1.0)
    return result


def _steady_run(feed: _Feed, pairs: int, rate_hz: float) -> Dict[str, Any]:
    """Send `pairs` pairs at the rate; latency and delivery per topic, the node's account."""
    collector = feed.collector
    result: Dict[str, Any] = {}
    collector.clear()
    before = collector.latest_diagnostics() or {}
    sent: Dict[int, int] = {}
    period = 1.0 / rate_hz
    start = time.perf_counter() + 0.05
    for i in range(pairs):
        delay = start + i * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        stamp = time.time_ns()
        feed.send(stamp)
        sent[stamp] = i
    send_span = time.perf_counter() - start
    end = time.monotonic()
    # Stragglers: whatever is still in the node's queue arrives within a few frame times.
    _wait_quiet(collector, max(2.0, 5 * period))
    diag_deadline = time.monotonic() + 3.0
    while collector.latest_diagnostics(end) is None and time.monotonic() < diag_deadline:
        time.sleep(0.05)
    after = collector.latest_diagnostics(end) or collector.latest_diagnostics() or {}
    with collector.lock:
        receipts = {k: dict(v) for k, v in collector.receipts.items()}
        statuses = list(collector.statuses)
    result['node_status'] = status_summary(statuses)
    result['sent'] = len(sent)
    result['achieved_input_rate_hz'] = (len(sent) - 1) / send_span if send_span > 0 else None
    result['topics'] = {topic: topic_summary(sent, receipts[topic], rate_hz)
                        for topic in ('disparity', 'points2')}
    result['node_diagnostics'] = after
    # The node's own account from its typed ~/status where msg/ is built, else from the
    # /diagnostics counters.
    result['node_counter_deltas'] = status_deltas(statuses) if statuses else \
        counter_deltas(before, after)
    result['breakdown'] = breakdown(after, offline_components_ms(feed.left, feed.fx,
                                                                 feed.baseline))
    return result


def _wait_quiet(collector: _Collector, quiet_s: float) -> None:
    """Return once no output has arrived for `quiet_s` seconds (at most 10 quiet periods)."""
    def count() -> int:
        with collector.lock:
            return sum(len(v) for v in collector.receipts.values())

    last, last_change = count(), time.monotonic()
    give_up = time.monotonic() + 10 * quiet_s
    while time.monotonic() - last_change < quiet_s and time.monotonic() < give_up:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, last_change = now, time.monotonic()
