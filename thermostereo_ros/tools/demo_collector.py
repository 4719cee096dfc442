# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What the demo collects from the node over DDS: outputs, their timing, its reports, a bag."""

import math
import pathlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data, QoSProfile
import rclpy.signals
from sensor_msgs.msg import Image, PointCloud2
from stereo_msgs.msg import DisparityImage

from thermostereo_ros.bags.recorder import BagRecorder
from thermostereo_ros.ros import diagnostics as keys, status
from thermostereo_ros.ros.conversions import image_to_numpy
from thermostereo_ros.ros.stamps import stamp_ns
from thermostereo_ros.tools.collector import NodeReports, StatusRecord

# A tenth of the clouds go into the outputs bag (2.6 MB each).
CLOUD_EVERY = 10


@dataclass
class Collected:
    """What came back from the node, keyed by header stamp (ns)."""

    disparity: Dict[int, np.ndarray] = field(default_factory=dict)
    disparity_time: Dict[int, float] = field(default_factory=dict)
    input_time: Dict[int, float] = field(default_factory=dict)
    cloud: Any = None
    cloud_stamp: Optional[int] = None
    last_output: float = -math.inf
    recorded: Dict[str, int] = field(default_factory=dict)  # messages per topic in the bag
    # What the node reported, copied from Collector.reports when the run ends: its last
    # diagnostics, and its typed statuses and evaluations where msg/ is built.
    diagnostics: Dict[str, str] = field(default_factory=dict)
    statuses: List[StatusRecord] = field(default_factory=list)
    evaluations: List[Tuple[int, float, float, int]] = field(default_factory=list)


class Collector:
    """Subscribes to the node's outputs (and the left input, for latency) in a private context.

    Callbacks run on one background executor thread and only copy what they need: each
    DisparityImage as an array, the one PointCloud2 nearest `cloud_target_ns`, the latest
    diagnostics of our node.
    """

    def __init__(self, prefix: str, node_name: str, cloud_target_ns: int) -> None:
        """Create the context, node and subscriptions and start spinning."""
        self.data = Collected()
        self.lock = threading.Lock()
        self._status_name = keys.status_name(f'{prefix}/thermal/{node_name}')
        self.reports = NodeReports(lambda name: name == self._status_name)
        self._cloud_target = cloud_target_ns
        self.context = rclpy.Context()
        # args=[]: the demo's own argv is not for rcl. No rclpy signal handler: it would
        # swallow Ctrl-C, and the demo must stop (and stop the node) on it.
        rclpy.init(args=[], context=self.context,
                   signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node('thermostereo_demo_collector', context=self.context)
        self.replay_node = rclpy.create_node('thermostereo_demo_replay', context=self.context)
        reliable = QoSProfile(depth=50)
        self.disparity_sub = self.node.create_subscription(
            DisparityImage, f'{prefix}/thermal/disparity', self._on_disparity, reliable)
        self.cloud_sub = self.node.create_subscription(
            PointCloud2, f'{prefix}/thermal/points2', self._on_cloud, reliable)
        # Best effort, like the node's own input subscription: a slow collector must never
        # hold up the replay's reliable writer.
        self.node.create_subscription(Image, f'{prefix}/thermal/left/image_rect',
                                      self._on_input, qos_profile_sensor_data)
        self.recorder: Any = None  # a BagRecorder while recording
        self.recorded_topics = {f'{prefix}/thermal/disparity': 'stereo_msgs/msg/DisparityImage',
                                f'{prefix}/thermal/points2': 'sensor_msgs/msg/PointCloud2'}
        if status.AVAILABLE:
            self.node.create_subscription(status.StereoStatus,
                                          f'{prefix}/thermal/{node_name}/status',
                                          self.reports.on_status, reliable)
            self.node.create_subscription(status.StereoEvaluation,
                                          f'{prefix}/thermal/{node_name}/evaluation',
                                          self.reports.on_evaluation, reliable)
            self.recorded_topics.update({
                f'{prefix}/thermal/{node_name}/status': 'thermostereo_ros/msg/StereoStatus',
                f'{prefix}/thermal/{node_name}/evaluation':
                    'thermostereo_ros/msg/StereoEvaluation'})
        # The outputs again, serialized as they arrive (raw=True: no deserialization), for the
        # bag in demo_out/ (start_recording).
        kinds = {'stereo_msgs/msg/DisparityImage': DisparityImage,
                 'sensor_msgs/msg/PointCloud2': PointCloud2,
                 'thermostereo_ros/msg/StereoStatus': status.StereoStatus,
                 'thermostereo_ros/msg/StereoEvaluation': status.StereoEvaluation}
        for topic, msgtype in self.recorded_topics.items():
            self.node.create_subscription(kinds[msgtype], topic,
                                          lambda raw, t=topic: self._on_raw(t, raw), reliable,
                                          raw=True)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.reports.on_diagnostics,
                                      QoSProfile(depth=10))
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name='demo_collector', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def _on_input(self, msg: Any) -> None:
        now = time.monotonic()
        with self.lock:
            self.data.input_time.setdefault(stamp_ns(msg.header), now)

    def _on_disparity(self, msg: Any) -> None:
        now = time.monotonic()
        disparity = image_to_numpy(msg.image)
        with self.lock:
            stamp = stamp_ns(msg.header)
            self.data.disparity[stamp] = disparity
            self.data.disparity_time[stamp] = now
            self.data.last_output = now

    def _on_cloud(self, msg: Any) -> None:
        stamp = stamp_ns(msg.header)
        with self.lock:
            best = self.data.cloud_stamp
            if best is None or abs(stamp - self._cloud_target) < abs(best - self._cloud_target):
                self.data.cloud, self.data.cloud_stamp = msg, stamp

    def start_recording(self, path: pathlib.Path) -> None:
        """Record the node's outputs from now on into an MCAP bag at `path`."""
        self.recorder = BagRecorder(path, self.recorded_topics)
        self._clouds_seen = 0

    def _on_raw(self, topic: str, raw: bytes) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        if topic.endswith('/points2'):
            # A cloud is 16 bytes a pixel: every tenth keeps the bag small enough to share.
            self._clouds_seen += 1
            if self._clouds_seen % CLOUD_EVERY:
                return
        recorder.write(topic, time.time_ns(), raw)

    def ready(self) -> bool:
        """Return True once the node spins (it sent diagnostics) and its outputs match us."""
        spinning = self.reports.latest_diagnostics() is not None
        return spinning and self.disparity_sub.get_publisher_count() > 0 \
            and self.cloud_sub.get_publisher_count() > 0

    def close(self) -> None:
        """Stop spinning, finish the bag and shut the private context down."""
        self.executor.shutdown(timeout_sec=2.0)
        if self.recorder is not None:
            self.recorder.close()
            self.data.recorded = dict(self.recorder.counts)
        rclpy.try_shutdown(context=self.context)
        self._thread.join(2.0)
