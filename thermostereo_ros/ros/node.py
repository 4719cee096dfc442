# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The `thermostereo` ROS 2 node: rectified thermal stereo in, disparity/depth/points out.

A thin layer: callbacks convert and check messages and pair them (ros/sync, ros/validation),
a LatestJobWorker (ros/worker) runs the network and the pure post-processing
(inference/postprocess) off the executor, and this module publishes. One SingleThreadedExecutor
runs every callback, so per-topic ordering and the synchroniser need no extra locking.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import time
from typing import Any, Callable, Dict, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from thermostereo_ros.geometry import StereoCamera
from thermostereo_ros.inference.pipeline import run_pair
from thermostereo_ros.inference.postprocess import INVALID_DISPARITY
from thermostereo_ros.ros import diagnostics as diag
from thermostereo_ros.ros import parameters as params
from thermostereo_ros.ros import status
from thermostereo_ros.ros.conversions import depth_to_metres, image_to_numpy, InputError
from thermostereo_ros.ros.engine_loader import (
    ActiveEngine, default_engine_factory, EngineFactory, EngineLoadError, model_label)
from thermostereo_ros.ros.outputs import build_messages, Products
from thermostereo_ros.ros.scoring import GroundTruthScorer
from thermostereo_ros.ros.stamps import stamp_ns
from thermostereo_ros.ros.sync import (
    LEFT_IMAGE, LEFT_INFO, PairSynchronizer, RIGHT_IMAGE, RIGHT_INFO)
from thermostereo_ros.ros.validation import BAD_INPUT_REASONS, BadInput, check_pair, Topics
from thermostereo_ros.ros.worker import LatestJobWorker

NODE_NAME = 'thermostereo'
_SIDE = {LEFT_IMAGE: 'left', RIGHT_IMAGE: 'right'}
__all__ = ['BAD_INPUT_REASONS', 'EngineLoadError', 'INVALID_DISPARITY', 'NODE_NAME',
           'ThermoStereoNode', 'default_engine_factory']


@dataclass
class _Frame:
    header: Header
    image: np.ndarray
    encoding: str
    received: float  # time.monotonic() at the callback


@dataclass
class _Job:
    stamp_ns: int
    left: _Frame
    right: _Frame
    camera: StereoCamera
    right_fx: float
    timeline: int


class ThermoStereoNode(Node):
    """ThermoStereoRT depth from a rectified thermal stereo pair."""

    def __init__(self, *, engine_factory: Optional[EngineFactory] = None, **kwargs: Any) -> None:
        """Declare parameters, load the engine (EngineLoadError if it fails), wire topics."""
        super().__init__(NODE_NAME, **kwargs)
        for spec in params.PARAMETERS:
            self.declare_parameter(spec.name, spec.default, params.descriptor(spec))
        self._config = {s.name: self.get_parameter(s.name).value for s in params.PARAMETERS}
        problem = params.validate(self._config) or params.engine_problem(
            self._config, params.ENGINE_PARAMETERS - {'device', 'precision', 'backend'})
        if problem:
            raise ValueError(problem)
        self._active = ActiveEngine(engine_factory or default_engine_factory, self._config)
        self._warn_cap()
        self._stats = diag.Stats(BAD_INPUT_REASONS)
        self._scorer = GroundTruthScorer(self._active.max_disparity())
        self._sync = PairSynchronizer(**self._sync_options(self._config))
        self._last_stamp: Dict[str, int] = {}
        self._log_times: Dict[tuple, float] = {}
        # Bumped whenever an input's time jumps back: stamps are only compared within one
        # timeline, so after a bag loop the worker does not discard the new, earlier stamps.
        self._timeline, self._last_processed = 0, (0, -1)

        qos, overrides = qos_profile_sensor_data, QoSOverridingOptions.with_default_policies()
        self._subs = {stream: self.create_subscription(
            kind, topic, lambda m, s=stream, cb=callback: cb(s, m), qos,
            qos_overriding_options=overrides) for stream, kind, topic, callback in (
                (LEFT_IMAGE, Image, 'left/image_rect', self._on_image),
                (RIGHT_IMAGE, Image, 'right/image_rect', self._on_image),
                (LEFT_INFO, CameraInfo, 'left/camera_info', self._on_info),
                (RIGHT_INFO, CameraInfo, 'right/camera_info', self._on_info))}
        self._topics = Topics(*(self._subs[s].topic_name for s in (
            LEFT_IMAGE, RIGHT_IMAGE, LEFT_INFO, RIGHT_INFO)))
        self._watch = diag.InputWatch(
            {'left': self._topics.left_image, 'right': self._topics.right_image},
            {'left': self._topics.left_info, 'right': self._topics.right_info})
        if self._config['evaluate_against']:
            self._gt_sub = self.create_subscription(
                Image, 'left/depth_gt', self._on_depth_gt, qos, qos_overriding_options=overrides)
        out = QoSProfile(depth=5)
        self._outputs = {topic: self.create_publisher(
            kind, topic, out, qos_overriding_options=overrides) for kind, topic in (
                (DisparityImage, 'disparity'), (PointCloud2, 'points2'), (Image, 'depth'),
                (Image, 'confidence'))}
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        # Per-frame typed status (msg/), where the interfaces are built.
        self._pub_status = self.create_publisher(status.StereoStatus, '~/status', 10) \
            if status.AVAILABLE else None
        self._pub_evaluation = self.create_publisher(
            status.StereoEvaluation, '~/evaluation', 10) \
            if status.AVAILABLE and self._config['evaluate_against'] else None
        self._reporter = diag.Reporter(time.monotonic())
        self._last_output = time.monotonic()
        self._timer = self.create_timer(1.0, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # Humble's rclpy has no post-set callback; there the rebuild is requested in the
        # on-set callback instead.
        self._post_set_available = hasattr(self, 'add_post_set_parameters_callback')
        if self._post_set_available:
            self.add_post_set_parameters_callback(self._after_set_parameters)
        self._worker = LatestJobWorker(self._process, self._rebuild_engine,
                                       self._on_worker_error, 'thermostereo_inference')
        engine = self._active.engine
        self.get_logger().info(
            f'model {model_label(self._config["model_path"])} on {engine.device} '
            f'({engine.backend}, {engine.precision}); waiting for '
            f'{self._topics.left_image} and {self._topics.right_image}')

    # Parameters and engine --------------------------------------------------------------------

    @staticmethod
    def _sync_options(config: Dict[str, Any]) -> Dict[str, Any]:
        return dict(approximate_sync=config['approximate_sync'],
                    tolerance_seconds=config['approximate_sync_tolerance_seconds'],
                    queue_size=config['queue_size'],
                    cache_camera_info=config['cache_camera_info'])

    def _on_set_parameters(self, parameters: list) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in params.DEFAULTS}
        config = {**self._config, **changes}
        changed = {k for k, v in changes.items() if self._config[k] != v}
        problem = params.validate(config) or params.engine_problem(config, changed)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        self._config = config
        if changed & params.SYNC_PARAMETERS:
            self._sync.configure(**self._sync_options(config))
        if not self._post_set_available:
            self._after_set_parameters(parameters)
        if changed:
            self.get_logger().info('parameters changed: ' + ', '.join(
                f'{k}={config[k]!r}' for k in sorted(changed)))
        return SetParametersResult(successful=True)

    def _after_set_parameters(self, parameters: list) -> None:
        # After rclpy stored the values (Iron and later): a rebuild that fails fast and sets
        # the parameters back can then never be overwritten by the change that caused it.
        del parameters
        if self._active.differs(self._config, params.ENGINE_PARAMETERS):
            self._worker.request_rebuild()

    def _warm_up(self) -> None:
        seconds = self._active.warm_up()
        if seconds:
            height, width = self._active.warm_size
            self.get_logger().info(f'warmed up for {width}x{height} in {seconds:.2f} s')

    def _warn_cap(self) -> None:
        native, wanted = self._active.engine.max_disparity, self._active.config['max_disparity']
        if native < wanted:
            self.get_logger().warning(f'the model was trained with max_disparity={native}; '
                                      f'disparities are capped at {native} px')

    def _rebuild_engine(self) -> None:
        config = dict(self._config)
        revert = self._active.rebuild(config, params.ENGINE_PARAMETERS)
        if revert:  # set the parameters back to what runs, so that they never lie
            self.get_logger().error(f'{self._active.error}; parameters set back to ' + ', '.join(
                f'{k}={v!r}' for k, v in sorted(revert.items())))
            self.set_parameters([Parameter(k, value=v) for k, v in revert.items()])
            return
        self._warn_cap()
        self._scorer.set_max_disparity(self._active.max_disparity())
        engine = self._active.engine
        self.get_logger().info(f'engine rebuilt: {model_label(config["model_path"])}, '
                               f'max_disparity {self._active.max_disparity():g}, '
                               f'{engine.device}/{engine.precision}/{engine.backend}')
        self._warm_up()

    # Input callbacks (executor thread) --------------------------------------------------------

    def _bad_input(self, topic: str, reason: str, text: str) -> None:
        with self._stats.lock:
            self._stats.bad_input[reason] = count = self._stats.bad_input.get(reason, 0) + 1
            self._stats.last_bad = f'{topic}: {text}'
        self._log_throttled((topic, reason), f'{topic}: {text}; pair dropped ({reason}: '
                                             f'{count} so far)')

    def _log_throttled(self, key: tuple, text: str) -> None:
        now = time.monotonic()  # once a second per key: one flood must not hide another cause
        if now - self._log_times.get(key, -math.inf) >= 1.0:
            self._log_times[key] = now
            self.get_logger().error(text)

    def _time_ok(self, stream: str, header: Header) -> bool:
        stamp, last = stamp_ns(header), self._last_stamp.get(stream)
        if last is not None and stamp < last:
            # Accept the new timeline from the next message on (bag loop, simulator reset),
            # never pairing across the jump: this stream's queued messages are the old one's.
            self._last_stamp[stream] = stamp
            self._sync.reset(stream)
            self._timeline += 1
            self._bad_input(self._subs[stream].topic_name, 'time_backwards',
                            f'stamp went backwards by {(last - stamp) / 1e9:.3f} s')
            return False
        return True

    def _on_image(self, stream: str, msg: Image) -> None:
        received, started = time.monotonic(), time.perf_counter()
        self._watch.arrived[_SIDE[stream]] = received
        if not self._time_ok(stream, msg.header):
            return
        try:
            image = image_to_numpy(msg, self._config['max_image_pixels'])
        except InputError as exc:  # a rejected message leaves the stream's last stamp alone
            self._bad_input(self._subs[stream].topic_name, exc.reason, str(exc))
            return
        self._last_stamp[stream] = stamp_ns(msg.header)
        with self._stats.lock:
            self._stats.add_latency('conversion', (time.perf_counter() - started) * 1e3)
        frame = _Frame(msg.header, image, msg.encoding, received)
        self._offer(self._sync.add(stream, stamp_ns(msg.header), frame))

    def _on_info(self, stream: str, msg: CameraInfo) -> None:
        size = (int(msg.height), int(msg.width))
        if stream == LEFT_INFO and size != self._active.warm_size and min(size) > 0 and \
                size[0] * size[1] <= self._config['max_image_pixels']:
            self._active.warm_size = size  # warm up now: the first frame is then not slow
            self._worker.submit(self._warm_up)
        if not self._config['cache_camera_info']:
            if not self._time_ok(stream, msg.header):
                return
            self._last_stamp[stream] = stamp_ns(msg.header)
        self._offer(self._sync.add(stream, stamp_ns(msg.header), msg))

    def _on_depth_gt(self, msg: Image) -> None:
        try:
            depth = depth_to_metres(msg, self._config['max_image_pixels'])
        except InputError as exc:
            self._bad_input(self._gt_sub.topic_name, 'depth_gt', str(exc))
            return
        self._scored(msg.header, self._scorer.add_ground_truth(stamp_ns(msg.header), depth))

    def _scored(self, header: Header, outcome: tuple) -> None:
        problem, metrics = outcome
        if problem:
            self._bad_input(self._gt_sub.topic_name, 'depth_gt', problem)
        elif metrics is not None and self._pub_evaluation is not None:
            self._pub_evaluation.publish(status.evaluation_message(header, metrics))

    def _offer(self, pair: Any) -> None:
        if pair is None:
            return
        try:
            camera = check_pair(pair, self._topics, self._config)
        except BadInput as exc:
            self._bad_input(exc.topic, exc.reason, str(exc))
            self._publish_status(pair.left_image, pair.right_image, drop_reason=exc.reason)
            return
        job = _Job(pair.stamp_ns, pair.left_image, pair.right_image, camera,
                   float(pair.right_info.p[0]), self._timeline)
        stale = self._worker.offer(job)
        with self._stats.lock:
            self._stats.pairs_in += 1
            self._stats.stale += int(stale is not None)
        if stale is not None:
            self._publish_status(stale.left, stale.right, drop_reason='stale')

    # Worker thread ----------------------------------------------------------------------------

    def _on_worker_error(self, exc: BaseException) -> bool:
        if not self.context.ok():
            return False  # shut down mid-frame, so publishing failed: the node is stopping
        text = f'processing failed: {type(exc).__name__}: {exc}'
        with self._stats.lock:
            self._stats.inference_errors += 1
            self._stats.last_inference_error = text
        self._log_throttled(('worker', type(exc).__name__), text)
        return True

    def _wanted(self) -> Dict[str, bool]:
        switches = {'disparity': True, 'points2': self._config['publish_pointcloud'],
                    'depth': self._config['publish_depth'],
                    'confidence': self._config['publish_confidence']}
        return {topic: on and self._outputs[topic].get_subscription_count() > 0
                for topic, on in switches.items()}

    def _process(self, job: _Job, waited_ms: float) -> None:
        if job.timeline == self._last_processed[0] and job.stamp_ns < self._last_processed[1]:
            with self._stats.lock:
                self._stats.stale += 1
            self._publish_status(job.left, job.right, drop_reason='stale')
            return
        config, wanted = self._config, self._wanted()
        scoring = config['evaluate_against']
        if not any(wanted.values()) and not (scoring and self._scorer.has_ground_truth(
                job.stamp_ns)):
            with self._stats.lock:
                self._stats.skipped_no_subscribers += 1
            self._publish_status(job.left, job.right, drop_reason='no_subscribers')
            return
        self._last_processed = (job.timeline, job.stamp_ns)
        max_disparity, camera = self._active.max_disparity(), job.camera
        result = run_pair(self._active.engine, job.left.image, job.right.image,
                          doffs=camera.doffs, max_disparity=max_disparity,
                          confidence_threshold=config['confidence_threshold'],
                          min_contrast=config['min_contrast'], keep_adjusted=scoring)
        started = time.perf_counter()
        messages = build_messages(Products(
            result.disparity, result.valid, result.confidence, camera, job.right_fx,
            max_disparity, job.left.image), job.left.header, wanted, config)
        postprocess_ms = result.postprocess_ms + (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        for topic, msg in messages.items():
            self._outputs[topic].publish(msg)
        publish_ms = (time.perf_counter() - started) * 1e3
        if scoring:
            self._scored(job.left.header,
                         self._scorer.add_prediction(job.stamp_ns, result.adjusted, camera))
        self._last_output = now = time.monotonic()
        first, last = sorted((job.left.received, job.right.received))
        with self._stats.lock:
            self._stats.pairs_out += 1
            self._stats.low_contrast += int(result.uniform)
            for stage, value in (('queue_wait', waited_ms),
                                 ('inference_latency', result.inference_ms),
                                 ('postprocess', postprocess_ms), ('publish', publish_ms),
                                 ('pipeline_latency', (now - last) * 1e3),
                                 ('end_to_end_latency', (now - first) * 1e3)):
                self._stats.add_latency(stage, value)
        self._publish_status(job.left, job.right, timings=dict(
            queue_wait_ms=waited_ms, inference_ms=result.inference_ms,
            postprocess_ms=postprocess_ms, end_to_end_ms=(now - first) * 1e3),
            summary=lambda: status.frame_summary(result.disparity, result.valid,
                                                 result.confidence, camera.focal_baseline))

    def _publish_status(self, left: _Frame, right: _Frame, timings: Optional[dict] = None,
                        summary: Optional[Callable[[], dict]] = None,
                        drop_reason: str = '') -> None:
        if self._pub_status is None or self._pub_status.get_subscription_count() == 0:
            return  # nobody listens: not even the frame summary is computed
        with self._stats.lock:
            counts = self._stats.counts()
        self._pub_status.publish(status.status_message(
            left.header, left.header.stamp, right.header.stamp, timings or {},
            summary() if summary else {},
            self._active.describe(), counts, self._sync.dropped, drop_reason))

    # Diagnostics ------------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        inputs = self._watch.fields(
            now, {'left': self._sync.has_camera_info(LEFT_INFO),
                  'right': self._sync.has_camera_info(RIGHT_INFO)},
            {'left': self._last_stamp.get(LEFT_IMAGE), 'right': self._last_stamp.get(RIGHT_IMAGE)})
        level, message, values = self._reporter.report(
            now, self._stats, inputs, self._active.error, now - self._last_output,
            self._sync.dropped, self._active.describe(),
            self._scorer.result() if self._config['evaluate_against'] else None)
        name = self.get_fully_qualified_name()
        report = DiagnosticStatus(level=bytes([level]), message=message, hardware_id=name,
                                  name=diag.status_name(name),
                                  values=[KeyValue(key=k, value=v) for k, v in values])
        array = DiagnosticArray(status=[report])
        array.header.stamp = self.get_clock().now().to_msg()
        self._pub_diagnostics.publish(array)

    # Shutdown ---------------------------------------------------------------------------------

    def stop_worker(self, timeout: float = 1.0) -> bool:
        """Let the worker finish its current frame and exit; True if it did within `timeout`."""
        worker = getattr(self, '_worker', None)  # None: construction failed before it started
        return worker is None or worker.stop(timeout)

    def destroy_node(self) -> None:
        """Stop the worker thread, then destroy the node."""
        self.stop_worker()
        super().destroy_node()
