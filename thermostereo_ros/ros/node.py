# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The `thermostereo` ROS 2 node: rectified thermal stereo in, disparity/depth/points out.

The node is deliberately thin: callbacks validate and convert messages, a synchroniser pairs
them, and ONE worker thread runs the network and publishes. Threading choice: a
SingleThreadedExecutor runs every callback (cheap conversions, the diagnostics timer and
parameter changes) so per-topic ordering and the synchroniser need no extra care, while the
worker thread owns the engine so inference never blocks a callback. The hand-over is a one-slot,
latest-wins buffer: a pair that is overwritten before the worker takes it is counted as stale.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import math
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
import rclpy
from rcl_interfaces.msg import (
    FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult)
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from thermostereo_ros.geometry import StereoCamera, disparity_to_depth
from thermostereo_ros.ros.conversions import (
    disparity_to_pointcloud, InputError, image_to_numpy, make_disparity_image, numpy_to_image,
    valid_window)
from thermostereo_ros.ros.sync import (
    LEFT_IMAGE, LEFT_INFO, PairSynchronizer, RIGHT_IMAGE, RIGHT_INFO)

NODE_NAME = 'thermostereo'

# Invalid pixels in the published DisparityImage. min_disparity is always >= 0, so the sentinel
# is strictly below it, which is how stereo_msgs consumers recognise "no disparity".
INVALID_DISPARITY = -1.0
# The network regresses continuous sub-pixel disparity; 1/16 px is the nominal resolution
# advertised in delta_d (the same as stereo_image_proc's sub-pixel matchers), for consumers
# that derive depth uncertainty from it.
DISPARITY_RESOLUTION_PX = 1.0 / 16.0

# Parameters whose change rebuilds the engine (on the worker) or the synchroniser.
ENGINE_PARAMETERS = ('model_path', 'device', 'precision', 'backend', 'max_disparity')
SYNC_PARAMETERS = ('approximate_sync', 'approximate_sync_tolerance_seconds', 'queue_size',
                   'cache_camera_info')

BAD_INPUT_REASONS = ('encoding', 'zero_size', 'too_large', 'big_endian', 'step', 'truncated',
                     'non_finite', 'size_mismatch', 'encoding_mismatch', 'camera_info',
                     'frame_id', 'time_backwards')


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter: default, meaning and allowed values."""

    name: str
    default: Any
    description: str
    int_range: Optional[tuple] = None  # (from, to, step)
    float_range: Optional[tuple] = None  # (from, to)
    choices: Optional[tuple] = None
    read_only: bool = False


PARAMETERS = (
    ParameterSpec('model_path', '', 'ThermoStereoRT .safetensors checkpoint; empty = the '
                  'weights shipped with the package'),
    ParameterSpec('max_disparity', 192, 'Largest disparity searched, in pixels (a multiple of '
                  '4: the cost volume is built at 1/4 resolution)', int_range=(4, 1024, 4)),
    ParameterSpec('device', 'auto', 'Inference device', choices=('auto', 'cuda', 'cpu')),
    ParameterSpec('precision', 'fp32', 'Inference precision',
                  choices=('fp32', 'fp16', 'bf16')),
    ParameterSpec('backend', 'torch', 'Inference runtime',
                  choices=('torch', 'onnxruntime', 'tensorrt')),
    ParameterSpec('approximate_sync', False, 'Pair left/right by nearest stamp within '
                  'approximate_sync_tolerance_seconds instead of identical stamps'),
    ParameterSpec('approximate_sync_tolerance_seconds', 0.01, 'Largest left/right stamp '
                  'difference accepted with approximate_sync', float_range=(0.0, 1.0)),
    ParameterSpec('queue_size', 5, 'Messages kept per input while waiting for a partner',
                  int_range=(1, 100, 1)),
    ParameterSpec('cache_camera_info', True, 'Use the latest camera_info of each side instead '
                  'of requiring one with the same stamp as each image'),
    ParameterSpec('publish_pointcloud', True, 'Publish points2 (only while subscribed)'),
    ParameterSpec('publish_depth', True, 'Publish depth, 32FC1 metres (only while subscribed)'),
    ParameterSpec('publish_confidence', True, 'Publish confidence, 32FC1 in [0, 1] (only '
                  'while subscribed)'),
    ParameterSpec('confidence_threshold', 0.0, 'Pixels with lower confidence are invalid',
                  float_range=(0.0, 1.0)),
    ParameterSpec('min_depth', 0.0, 'Nearer points are dropped from points2 and depth (m)',
                  float_range=(0.0, 1000.0)),
    ParameterSpec('max_depth', 100.0, 'Farther points are dropped from points2 and depth (m)',
                  float_range=(0.0, 10000.0)),
    ParameterSpec('pointcloud_decimation', 1, 'Keep every n-th row and column in points2',
                  int_range=(1, 16, 1)),
    ParameterSpec('max_image_pixels', 8388608, 'Images with more pixels are rejected as bad '
                  'input (protects memory and latency)', int_range=(1, 268435456, 1)),
    ParameterSpec('evaluate_against', False, 'Subscribe to left/depth_gt (32FC1 m, NaN = '
                  'missing) and report running EPE/D1 in /diagnostics; set at start-up',
                  read_only=True),
)
DEFAULTS = {spec.name: spec.default for spec in PARAMETERS}


class EngineLoadError(RuntimeError):
    """The model could not be loaded; the message names the path and the reason."""


def _model_label(path: str) -> str:
    return path if path else '<default weights>'


def default_engine_factory(config: Dict[str, Any]) -> Any:
    """Load a StereoEngine for a parameter snapshot (`model_path`, `device`, ...).

    Architectures whose weights fix max_disparity (ThermoStereoRT) refuse an override; they are
    loaded as trained and the node caps disparities at the smaller of the two values instead.
    """
    from thermostereo_ros.inference import StereoEngine

    kwargs = dict(device=config['device'], precision=config['precision'],
                  backend=config['backend'])
    path = config['model_path'] or None
    try:
        return StereoEngine.from_checkpoint(path, max_disparity=config['max_disparity'],
                                            **kwargs)
    except ValueError as exc:
        if 'max_disparity' not in str(exc):
            raise
        return StereoEngine.from_checkpoint(path, **kwargs)


def _store_bounded(store: Dict[int, Any], stamp: int, value: Any, limit: int = 10) -> None:
    """Keep `value` under `stamp`, forgetting the oldest stamps beyond `limit`."""
    store[stamp] = value
    while len(store) > limit:
        store.pop(min(store))


def _stamp_ns(header: Header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass
class _Frame:
    header: Header
    image: np.ndarray
    encoding: str
    received: float


@dataclass
class _Job:
    stamp_ns: int
    left: _Frame
    right: _Frame
    camera: StereoCamera
    right_fx: float
    timeline: int = 0
    offered: float = 0.0  # perf_counter() when handed to the worker


class _Stats:
    """Counters and latency windows shared by callbacks, the worker and the timer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bad_input = {reason: 0 for reason in BAD_INPUT_REASONS}
        self.stale = 0
        self.inference_errors = 0
        self.skipped_no_subscribers = 0
        self.pairs_in = 0
        self.pairs_out = 0
        self.inference_ms = deque(maxlen=200)
        self.end_to_end_ms = deque(maxlen=200)
        self.pipeline_ms = deque(maxlen=200)
        # Stage timings (perf_counter deltas): where a frame's latency goes besides inference.
        self.queue_wait_ms = deque(maxlen=200)  # offered to the worker -> picked up
        self.conversion_ms = deque(maxlen=200)  # image_to_numpy, per image
        self.postprocess_ms = deque(maxlen=200)  # validity mask, messages, depth, points
        self.publish_ms = deque(maxlen=200)  # the publish() calls of one frame
        self.eval_abs_error = 0.0
        self.eval_bad = 0
        self.eval_pixels = 0
        self.eval_frames = 0


def _percentile(values: deque, q: float) -> str:
    return f'{np.percentile(np.fromiter(values, float), q):.1f}' if values else 'n/a'


def _validity(raw: np.ndarray, confidence: np.ndarray, doffs: float, max_disparity: float,
              confidence_threshold: float) -> tuple:
    """Return (adjusted disparity, valid mask) for the network's pixel disparity `raw`.

    Valid: finite, inside the searched range, positive depth, the match falls inside the right
    image (left border columns cannot be matched), and confident enough. The comparisons
    write into one scratch mask instead of a temporary per term.
    """
    adjusted = np.subtract(raw, np.float32(doffs))
    valid = np.isfinite(raw)
    scratch = np.empty_like(valid)
    valid &= np.greater_equal(raw, 0.0, out=scratch)
    valid &= np.less_equal(raw, max_disparity, out=scratch)
    valid &= np.greater(adjusted, 0.0, out=scratch)
    # column - raw >= 0, i.e. x_right >= 0; for finite floats the same as raw <= column.
    columns = np.arange(raw.shape[1], dtype=np.float32)[np.newaxis, :]
    valid &= np.less_equal(raw, columns, out=scratch)
    valid &= np.greater_equal(confidence, confidence_threshold, out=scratch)
    return adjusted, valid


class ThermoStereoNode(Node):
    """ThermoStereoRT depth from a rectified thermal stereo pair."""

    def __init__(self, *, engine_factory: Optional[Callable[[Dict[str, Any]], Any]] = None,
                 **kwargs: Any) -> None:
        """Declare parameters, load the engine (EngineLoadError if it fails), wire topics."""
        super().__init__(NODE_NAME, **kwargs)
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, self._descriptor(spec))
        self._config = {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        problem = self._validate(self._config)
        if problem:
            raise ValueError(problem)

        self._engine_factory = engine_factory or default_engine_factory
        self._engine = self._load_engine(self._config)
        self._engine_config = dict(self._config)
        self._engine_error = ''

        self._stats = _Stats()
        self._sync = self._make_sync(self._config)
        self._sync_dropped_base = 0
        self._last_stamp: Dict[str, int] = {}
        self._log_times: Dict[tuple, float] = {}
        self._gt_depth: Dict[int, np.ndarray] = {}
        # Predictions waiting for their ground truth: a bag (or a driver) may publish depth_gt
        # after the image pair, so whichever of the two arrives second triggers the scoring.
        self._pending_eval: Dict[int, tuple] = {}
        self._gt_lock = threading.Lock()

        # Worker hand-over: one slot, newest wins.
        self._cond = threading.Condition()
        self._slot: Optional[_Job] = None
        self._rebuild_requested = False
        self._stop = False
        self._last_processed_ns = -1
        # Bumped whenever an input's time jumps back: stamps are only compared within one
        # timeline, so after a bag loop the worker does not discard the new, earlier stamps.
        self._timeline = 0
        self._last_processed_timeline = 0

        sensor_qos = qos_profile_sensor_data
        overrides = QoSOverridingOptions.with_default_policies()
        self._subs = {
            LEFT_IMAGE: self.create_subscription(
                Image, 'left/image_rect', lambda m: self._on_image(LEFT_IMAGE, m), sensor_qos,
                qos_overriding_options=overrides),
            RIGHT_IMAGE: self.create_subscription(
                Image, 'right/image_rect', lambda m: self._on_image(RIGHT_IMAGE, m),
                sensor_qos, qos_overriding_options=overrides),
            LEFT_INFO: self.create_subscription(
                CameraInfo, 'left/camera_info', lambda m: self._on_info(LEFT_INFO, m),
                sensor_qos, qos_overriding_options=overrides),
            RIGHT_INFO: self.create_subscription(
                CameraInfo, 'right/camera_info', lambda m: self._on_info(RIGHT_INFO, m),
                sensor_qos, qos_overriding_options=overrides),
        }
        if self._config['evaluate_against']:
            self._gt_sub = self.create_subscription(
                Image, 'left/depth_gt', self._on_depth_gt, sensor_qos,
                qos_overriding_options=overrides)
        out_qos = QoSProfile(depth=5)
        self._pub_disparity = self.create_publisher(
            DisparityImage, 'disparity', out_qos, qos_overriding_options=overrides)
        self._pub_points = self.create_publisher(
            PointCloud2, 'points2', out_qos, qos_overriding_options=overrides)
        self._pub_depth = self.create_publisher(
            Image, 'depth', out_qos, qos_overriding_options=overrides)
        self._pub_confidence = self.create_publisher(
            Image, 'confidence', out_qos, qos_overriding_options=overrides)
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)

        self._diag_last = time.monotonic()
        self._diag_counts = (0, 0)
        self._diag_bad_total = 0
        self._timer = self.create_timer(1.0, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._worker = threading.Thread(target=self._work, name='thermostereo_inference',
                                        daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'model {_model_label(self._config["model_path"])} on '
            f'{self._engine_attr("device", self._config["device"])} '
            f'({self._config["backend"]}, {self._config["precision"]}); waiting for '
            f'{self._subs[LEFT_IMAGE].topic_name} and {self._subs[RIGHT_IMAGE].topic_name}')

    # Parameters -------------------------------------------------------------------------------

    @staticmethod
    def _descriptor(spec: ParameterSpec) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(description=spec.description,
                                         read_only=spec.read_only)
        if spec.int_range:
            low, high, step = spec.int_range
            descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=step)]
        if spec.float_range:
            low, high = spec.float_range
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=low, to_value=high, step=0.0)]
        if spec.choices:
            descriptor.additional_constraints = 'one of: ' + ', '.join(spec.choices)
        return descriptor

    @staticmethod
    def _validate(config: Dict[str, Any]) -> str:
        """Return why `config` is unacceptable, or '' (ranges are checked by rclpy too)."""
        for spec in PARAMETERS:
            value = config[spec.name]
            if spec.choices and value not in spec.choices:
                return (f'{spec.name}={value!r} is not allowed; expected one of '
                        f'{", ".join(spec.choices)}')
            if spec.int_range and not spec.int_range[0] <= value <= spec.int_range[1]:
                return f'{spec.name}={value} is outside [{spec.int_range[0]}, ' \
                       f'{spec.int_range[1]}]'
            if spec.float_range and not spec.float_range[0] <= value <= spec.float_range[1]:
                return f'{spec.name}={value} is outside [{spec.float_range[0]}, ' \
                       f'{spec.float_range[1]}]'
        if config['min_depth'] >= config['max_depth']:
            return (f'min_depth ({config["min_depth"]}) must be smaller than max_depth '
                    f'({config["max_depth"]})')
        if config['max_disparity'] % 4:
            return f'max_disparity={config["max_disparity"]} is not a multiple of 4'
        return ''

    def _on_set_parameters(self, parameters: list) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in DEFAULTS}
        if not changes:
            return SetParametersResult(successful=True)
        config = {**self._config, **changes}
        problem = self._validate(config)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        changed = {k for k, v in changes.items() if self._config[k] != v}
        self._config = config
        if changed & set(SYNC_PARAMETERS):
            old, self._sync = self._sync, self._make_sync(config)
            self._sync_dropped_base += old.dropped
        if changed & set(ENGINE_PARAMETERS):
            with self._cond:
                self._rebuild_requested = True
                self._cond.notify()
        if changed:
            self.get_logger().info('parameters changed: ' + ', '.join(
                f'{k}={config[k]!r}' for k in sorted(changed)))
        return SetParametersResult(successful=True)

    @staticmethod
    def _make_sync(config: Dict[str, Any]) -> PairSynchronizer:
        return PairSynchronizer(
            approximate_sync=config['approximate_sync'],
            tolerance_seconds=config['approximate_sync_tolerance_seconds'],
            queue_size=config['queue_size'], cache_camera_info=config['cache_camera_info'])

    def _load_engine(self, config: Dict[str, Any]) -> Any:
        try:
            engine = self._engine_factory(config)
        except Exception as exc:  # any failure to load is reported the same way
            reason = str(exc) or type(exc).__name__
            # Checkpoint errors already begin with the path: say it once in the one line.
            prefix = f'{config["model_path"]}: '
            if config['model_path'] and reason.startswith(prefix):
                reason = reason[len(prefix):]
            raise EngineLoadError(f'cannot load model {_model_label(config["model_path"])}: '
                                  f'{reason}') from exc
        native = getattr(engine, 'max_disparity', None)
        if native is not None and native != config['max_disparity']:
            self.get_logger().warning(
                f'the model was trained with max_disparity={native}; disparities are capped '
                f'at {min(native, config["max_disparity"])} px')
        return engine

    def _engine_attr(self, name: str, fallback: str) -> str:
        return str(getattr(self._engine, name, fallback))

    # Input callbacks (executor thread) --------------------------------------------------------

    def _bad_input(self, topic: str, reason: str, text: str) -> None:
        with self._stats.lock:
            self._stats.bad_input[reason] = self._stats.bad_input.get(reason, 0) + 1
            count = self._stats.bad_input[reason]
        # Throttle per (topic, reason) so one flood does not hide a different problem.
        now = time.monotonic()
        if now - self._log_times.get((topic, reason), -math.inf) >= 5.0:
            self._log_times[(topic, reason)] = now
            self.get_logger().error(f'{topic}: {text}; pair dropped ({reason}: {count} so far)')

    def _time_ok(self, stream: str, topic: str, header: Header) -> bool:
        stamp = _stamp_ns(header)
        last = self._last_stamp.get(stream)
        self._last_stamp[stream] = stamp
        if last is not None and stamp < last:
            # Accept the new timeline from the next message on (bag loop, simulator reset),
            # but never pair across the jump: this stream's queued messages are from the old
            # one. Other streams keep theirs, which may already be on the new timeline.
            self._sync.reset(stream)
            self._timeline += 1
            self._bad_input(topic, 'time_backwards',
                            f'stamp went backwards by {(last - stamp) / 1e9:.3f} s')
            return False
        return True

    def _on_image(self, stream: str, msg: Image) -> None:
        topic = self._subs[stream].topic_name
        if not self._time_ok(stream, topic, msg.header):
            return
        started = time.perf_counter()
        try:
            image = image_to_numpy(msg, self._config['max_image_pixels'])
        except InputError as exc:
            self._bad_input(topic, exc.reason, str(exc))
            return
        conversion_ms = (time.perf_counter() - started) * 1e3
        with self._stats.lock:
            self._stats.conversion_ms.append(conversion_ms)
        frame = _Frame(msg.header, image, msg.encoding, time.monotonic())
        self._offer(self._sync.add(stream, _stamp_ns(msg.header), frame))

    def _on_info(self, stream: str, msg: CameraInfo) -> None:
        topic = self._subs[stream].topic_name
        per_frame = not self._config['cache_camera_info']
        if per_frame and not self._time_ok(stream, topic, msg.header):
            return
        self._offer(self._sync.add(stream, _stamp_ns(msg.header), msg))

    def _on_depth_gt(self, msg: Image) -> None:
        try:
            depth = image_to_numpy(msg, self._config['max_image_pixels'], allow_non_finite=True)
        except InputError as exc:
            self._bad_input(self._gt_sub.topic_name, exc.reason, str(exc))
            return
        stamp = _stamp_ns(msg.header)
        depth = depth.astype(np.float32, copy=False)
        with self._gt_lock:
            pending = self._pending_eval.pop(stamp, None)
            if pending is None:
                _store_bounded(self._gt_depth, stamp, depth)
        if pending is not None:
            adjusted, camera = pending
            self._evaluate(adjusted, depth, camera)

    def _check_pair(self, pair: Any) -> Optional[_Job]:
        left, right = pair.left_image, pair.right_image
        left_topic = self._subs[LEFT_IMAGE].topic_name
        right_topic = self._subs[RIGHT_IMAGE].topic_name
        if left.encoding != right.encoding:
            self._bad_input(right_topic, 'encoding_mismatch',
                            f'encoding {right.encoding} differs from left {left.encoding}')
            return None
        if left.image.shape != right.image.shape:
            self._bad_input(right_topic, 'size_mismatch',
                            f'{right.image.shape[1]}x{right.image.shape[0]} differs from left '
                            f'{left.image.shape[1]}x{left.image.shape[0]}')
            return None
        for stream, frame, info in ((LEFT_INFO, left, pair.left_info),
                                    (RIGHT_INFO, right, pair.right_info)):
            topic = self._subs[stream].topic_name
            if info.width and info.height and (info.height, info.width) != frame.image.shape:
                self._bad_input(topic, 'size_mismatch',
                                f'camera_info is {info.width}x{info.height} but the image is '
                                f'{frame.image.shape[1]}x{frame.image.shape[0]}')
                return None
            if info.header.frame_id and frame.header.frame_id and \
                    info.header.frame_id != frame.header.frame_id:
                self._bad_input(topic, 'frame_id',
                                f'camera_info frame_id "{info.header.frame_id}" disagrees with '
                                f'its image frame_id "{frame.header.frame_id}"')
                return None
        try:
            camera = StereoCamera.from_projection(pair.left_info.p, pair.right_info.p,
                                                  pair.left_info.k)
        except ValueError as exc:
            self._bad_input(f'{self._subs[LEFT_INFO].topic_name} + '
                            f'{self._subs[RIGHT_INFO].topic_name}', 'camera_info',
                            f'unusable calibration: {exc}')
            return None
        del left_topic
        return _Job(pair.stamp_ns, left, right, camera, float(pair.right_info.p[0]),
                    self._timeline)

    def _offer(self, pair: Any) -> None:
        if pair is None:
            return
        job = self._check_pair(pair)
        if job is None:
            return
        with self._stats.lock:
            self._stats.pairs_in += 1
        with self._cond:
            if self._slot is not None:
                with self._stats.lock:
                    self._stats.stale += 1
            job.offered = time.perf_counter()
            self._slot = job
            self._cond.notify()

    # Worker thread ----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stop or self._slot is not None or self._rebuild_requested)
                if self._stop:
                    return
                job, self._slot = self._slot, None
                rebuild, self._rebuild_requested = self._rebuild_requested, False
            if job is not None:
                waited_ms = (time.perf_counter() - job.offered) * 1e3
                with self._stats.lock:
                    self._stats.queue_wait_ms.append(waited_ms)
            if rebuild:
                self._rebuild_engine()
            if job is not None:
                try:
                    self._process(job)
                except Exception as exc:  # a frame must never take the node down
                    if not self.context.ok():
                        # SIGINT shut the context down mid-frame, so publishing failed: that
                        # is the node stopping, not a processing error to count and log.
                        return
                    with self._stats.lock:
                        self._stats.inference_errors += 1
                    self._bad_log('inference', f'processing failed: {type(exc).__name__}: {exc}')

    def _bad_log(self, key: str, text: str) -> None:
        now = time.monotonic()
        if now - self._log_times.get(('worker', key), -math.inf) >= 5.0:
            self._log_times[('worker', key)] = now
            self.get_logger().error(text)

    def _rebuild_engine(self) -> None:
        config = dict(self._config)
        try:
            engine = self._load_engine(config)
        except EngineLoadError as exc:
            self._engine_error = f'{exc}; still running the previous model'
            self.get_logger().error(self._engine_error)
            return
        self._engine, self._engine_config, self._engine_error = engine, config, ''
        self.get_logger().info(
            f'engine rebuilt: {_model_label(config["model_path"])}, max_disparity '
            f'{config["max_disparity"]}, {config["device"]}/{config["precision"]}/'
            f'{config["backend"]}')

    def _process(self, job: _Job) -> None:
        if job.timeline == self._last_processed_timeline and \
                job.stamp_ns < self._last_processed_ns:
            with self._stats.lock:
                self._stats.stale += 1
            return
        config = self._config
        want_disparity = self._pub_disparity.get_subscription_count() > 0
        want_points = config['publish_pointcloud'] and \
            self._pub_points.get_subscription_count() > 0
        want_depth = config['publish_depth'] and self._pub_depth.get_subscription_count() > 0
        want_confidence = config['publish_confidence'] and \
            self._pub_confidence.get_subscription_count() > 0
        with self._gt_lock:
            gt_depth = self._gt_depth.pop(job.stamp_ns, None)
        if not (want_disparity or want_points or want_depth or want_confidence
                or gt_depth is not None):
            with self._stats.lock:
                self._stats.skipped_no_subscribers += 1
            return
        self._last_processed_ns, self._last_processed_timeline = job.stamp_ns, job.timeline

        engine, engine_config = self._engine, self._engine_config
        started = time.perf_counter()
        result = engine.infer(job.left.image, job.right.image)
        inference_ms = (time.perf_counter() - started) * 1e3
        raw = np.asarray(result.disparity, dtype=np.float32)
        confidence = np.asarray(result.confidence, dtype=np.float32)
        if raw.shape != job.left.image.shape:
            raise ValueError(f'engine returned {raw.shape}, expected {job.left.image.shape}')

        # The node's cap, never above what the loaded network can output.
        max_disparity = float(min(engine_config['max_disparity'],
                                  getattr(engine, 'max_disparity', math.inf)))
        camera = job.camera
        post_started = time.perf_counter()
        adjusted, valid = _validity(raw, confidence, camera.doffs, max_disparity,
                                    config['confidence_threshold'])
        # The published disparity is `adjusted` with invalid pixels set, in place unless the
        # evaluation (now, or when depth_gt arrives) still needs the unmasked values.
        evaluating = gt_depth is not None or config['evaluate_against']
        disparity = adjusted.copy() if evaluating else adjusted
        np.copyto(disparity, np.float32(INVALID_DISPARITY), where=~valid)
        header = job.left.header
        publish_s = [0.0]

        def publish(publisher: Any, msg: Any) -> None:
            started = time.perf_counter()
            publisher.publish(msg)
            publish_s[0] += time.perf_counter() - started

        if want_disparity:
            publish(self._pub_disparity, make_disparity_image(
                disparity, header, f=job.right_fx, t=camera.baseline,
                min_disparity=max(0.0, -camera.doffs), max_disparity=max_disparity - camera.doffs,
                delta_d=DISPARITY_RESOLUTION_PX, valid_window=valid_window(valid)))
        if want_depth:
            depth = disparity_to_depth(disparity, camera, adjusted=True,
                                       min_depth=config['min_depth'],
                                       max_depth=config['max_depth'])
            publish(self._pub_depth, numpy_to_image(depth, header, '32FC1'))
        if want_points:
            publish(self._pub_points, disparity_to_pointcloud(
                disparity, camera, header, job.left.image, adjusted=True,
                decimation=config['pointcloud_decimation'], min_depth=config['min_depth'],
                max_depth=config['max_depth']))
        if want_confidence:
            publish(self._pub_confidence, numpy_to_image(confidence, header, '32FC1'))
        postprocess_ms = (time.perf_counter() - post_started - publish_s[0]) * 1e3
        if gt_depth is not None:
            self._evaluate(adjusted, gt_depth, camera)
        elif config['evaluate_against']:
            with self._gt_lock:
                # The ground truth may have arrived while this frame was being processed.
                gt_depth = self._gt_depth.pop(job.stamp_ns, None)
                if gt_depth is None:
                    _store_bounded(self._pending_eval, job.stamp_ns, (adjusted, camera))
            if gt_depth is not None:
                self._evaluate(adjusted, gt_depth, camera)

        now_ns = self.get_clock().now().nanoseconds
        with self._stats.lock:
            self._stats.pairs_out += 1
            self._stats.inference_ms.append(inference_ms)
            self._stats.pipeline_ms.append((time.monotonic() - job.left.received) * 1e3)
            self._stats.end_to_end_ms.append((now_ns - job.stamp_ns) / 1e6)
            self._stats.postprocess_ms.append(postprocess_ms)
            self._stats.publish_ms.append(publish_s[0] * 1e3)

    def _evaluate(self, adjusted: np.ndarray, gt_depth: np.ndarray,
                  camera: StereoCamera) -> None:
        if gt_depth.shape != adjusted.shape:
            self._bad_log('gt', f'depth_gt is {gt_depth.shape}, disparity {adjusted.shape}')
            return
        has_gt = np.isfinite(gt_depth) & (gt_depth > 0)
        gt_disparity = np.float32(camera.focal_baseline) / gt_depth[has_gt]
        error = np.abs(np.nan_to_num(adjusted[has_gt], nan=0.0) - gt_disparity)
        # KITTI D1: wrong if off by more than 3 px and more than 5 % of the true disparity.
        bad = (error > 3.0) & (error > 0.05 * gt_disparity)
        with self._stats.lock:
            self._stats.eval_abs_error += float(error.sum())
            self._stats.eval_bad += int(bad.sum())
            self._stats.eval_pixels += int(has_gt.sum())
            self._stats.eval_frames += 1

    # Diagnostics ------------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        elapsed = max(now - self._diag_last, 1e-6)
        stats = self._stats
        with stats.lock:
            pairs_in, pairs_out = stats.pairs_in, stats.pairs_out
            bad = dict(stats.bad_input)
            stale, errors, skipped = stats.stale, stats.inference_errors, \
                stats.skipped_no_subscribers
            values = [
                ('inference_latency_p50_ms', _percentile(stats.inference_ms, 50)),
                ('inference_latency_p95_ms', _percentile(stats.inference_ms, 95)),
                ('end_to_end_latency_p50_ms', _percentile(stats.end_to_end_ms, 50)),
                ('end_to_end_latency_p95_ms', _percentile(stats.end_to_end_ms, 95)),
                ('pipeline_latency_p50_ms', _percentile(stats.pipeline_ms, 50)),
                ('pipeline_latency_p95_ms', _percentile(stats.pipeline_ms, 95)),
                *((f'{stage}_p{q}_ms', _percentile(getattr(stats, f'{stage}_ms'), q))
                  for stage in ('queue_wait', 'conversion', 'postprocess', 'publish')
                  for q in (50, 95)),
            ]
            evaluation = (stats.eval_frames, stats.eval_abs_error, stats.eval_bad,
                          stats.eval_pixels)
        rate_in = (pairs_in - self._diag_counts[0]) / elapsed
        rate_out = (pairs_out - self._diag_counts[1]) / elapsed
        self._diag_last, self._diag_counts = now, (pairs_in, pairs_out)
        bad_total = sum(bad.values())
        new_bad = bad_total - self._diag_bad_total
        self._diag_bad_total = bad_total
        unsynchronised = self._sync_dropped_base + self._sync.dropped

        status = DiagnosticStatus()
        status.name = f'{self.get_name()}: stereo depth'
        status.hardware_id = self._engine_attr('device', self._engine_config['device'])
        if self._engine_error:
            status.level, status.message = DiagnosticStatus.ERROR, self._engine_error
        elif new_bad and rate_out == 0.0:
            status.level = DiagnosticStatus.ERROR
            status.message = f'all input rejected: {new_bad} bad message(s) in the last second'
        elif new_bad:
            status.level = DiagnosticStatus.WARN
            status.message = f'{new_bad} bad input message(s) in the last second'
        else:
            status.level, status.message = DiagnosticStatus.OK, 'ok'
        values = [
            ('input_pair_rate_hz', f'{rate_in:.2f}'),
            ('output_rate_hz', f'{rate_out:.2f}'),
            *values,
            ('pairs_in', str(pairs_in)),
            ('pairs_out', str(pairs_out)),
            ('drops_stale', str(stale)),
            ('drops_unsynchronised', str(unsynchronised)),
            ('drops_bad_input', str(bad_total)),
            *((f'bad_input_{reason}', str(count)) for reason, count in sorted(bad.items())),
            ('inference_errors', str(errors)),
            ('skipped_no_subscribers', str(skipped)),
            ('device', status.hardware_id),
            ('backend', self._engine_attr('backend', self._engine_config['backend'])),
            ('precision', self._engine_attr('precision', self._engine_config['precision'])),
            ('model_path', _model_label(self._engine_config['model_path'])),
            ('max_disparity', str(self._engine_config['max_disparity'])),
        ]
        if self._config['evaluate_against']:
            frames, abs_error, bad_px, pixels = evaluation
            values += [('eval_frames', str(frames)),
                       ('eval_epe_px', f'{abs_error / pixels:.4f}' if pixels else 'n/a'),
                       ('eval_d1_percent', f'{100.0 * bad_px / pixels:.3f}' if pixels
                        else 'n/a')]
        status.values = [KeyValue(key=k, value=v) for k, v in values]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self._pub_diagnostics.publish(array)

    # Shutdown ---------------------------------------------------------------------------------

    def stop_worker(self, timeout: float = 2.0) -> bool:
        """Ask the worker to finish its current frame and exit; True if it did in time."""
        if getattr(self, '_worker', None) is None:
            return True  # construction failed before the worker started
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def destroy_node(self) -> None:
        """Stop the worker thread, then destroy the node."""
        self.stop_worker()
        super().destroy_node()


def run(args: Optional[list] = None,
        engine_factory: Optional[Callable[[Dict[str, Any]], Any]] = None) -> int:
    """Run the node until shutdown; 0 on a clean exit or SIGINT, 1 if it cannot start."""
    rclpy.init(args=args)
    node = None
    try:
        # The executor first: a SIGINT during its constructor (right after the node logged that
        # it is waiting, under load) left a half-built executor whose __del__ printed a
        # traceback (AttributeError: no '_sigint_gc'; seen in CI).
        executor = SingleThreadedExecutor()
        node = ThermoStereoNode(engine_factory=engine_factory)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # SIGINT / SIGTERM: a normal way to stop
    except Exception as exc:  # one readable line instead of a traceback wall
        if rclpy.ok():
            print(f'[{NODE_NAME}] error: {exc}', file=sys.stderr, flush=True)
            _shutdown(node)
            return 1
        # Otherwise a signal shut the context down mid start-up (e.g. during add_node).
    _shutdown(node)
    return 0


def _shutdown(node: Optional[ThermoStereoNode]) -> None:
    if node is not None:
        node.stop_worker()
    # Not executor.shutdown(): with it, Jazzy's rclpy printed a traceback from its SIGINT guard
    # condition's __del__ at SIGINT (seen in CI). try_shutdown destroys the context's nodes
    # (and so the node) exactly once.
    rclpy.try_shutdown()


def main(args: Optional[list] = None) -> None:
    """Console entry point: run the node, then end the process with run()'s exit code."""
    code = run(args)
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is shut down by now. Exiting without interpreter teardown skips the C++ static
    # destructors of the DDS and torch thread pools, which occasionally crashed here after a
    # clean shutdown (SIGSEGV after SIGINT, node idle): a launch file or supervisor must see the
    # real exit code, not a crash.
    os._exit(code)


if __name__ == '__main__':
    main()
