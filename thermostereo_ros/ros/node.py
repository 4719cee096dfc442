# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The `thermostereo` ROS 2 node: rectified thermal stereo in, disparity/depth/points out.

A thin layer: callbacks convert and check messages and pair them (ros/sync, ros/validation),
a LatestJobWorker (ros/worker) runs the network and the pure post-processing
(inference/postprocess) off the executor, and this module publishes. One SingleThreadedExecutor
runs every callback, so per-topic ordering and the synchroniser need no extra locking.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from thermostereo_ros.inference.pipeline import run_pair
from thermostereo_ros.inference.postprocess import INVALID_DISPARITY
from thermostereo_ros.ros import diagnostics as diag
from thermostereo_ros.ros import parameters as params
from thermostereo_ros.ros import inputs, status, sync
from thermostereo_ros.ros.conversions import depth_to_metres, image_to_numpy, InputError
from thermostereo_ros.ros.engine_loader import (
    ActiveEngine, default_engine_factory, EngineFactory, EngineLoadError)
from thermostereo_ros.ros.frames import Frame, PairJob
from thermostereo_ros.ros.outputs import iter_messages, OUTPUTS, Products, wanted
from thermostereo_ros.ros.scoring import GroundTruthScorer
from thermostereo_ros.ros.stamps import stamp_ns, StampGuard
from thermostereo_ros.ros.sync import (
    LEFT_IMAGE, LEFT_INFO, PairSynchronizer, RIGHT_IMAGE, RIGHT_INFO)
from thermostereo_ros.ros.validation import BAD_INPUT_REASONS, BadInput, check_pair, Topics
from thermostereo_ros.ros.worker import LatestJobWorker

NODE_NAME = 'thermostereo'
_SIDE = {LEFT_IMAGE: 'left', RIGHT_IMAGE: 'right'}
__all__ = ['BAD_INPUT_REASONS', 'EngineLoadError', 'INVALID_DISPARITY', 'NODE_NAME',
           'ThermoStereoNode', 'default_engine_factory']


class ThermoStereoNode(Node):
    """ThermoStereoRT depth from a rectified thermal stereo pair."""

    def __init__(self, *, engine_factory: Optional[EngineFactory] = None, **kwargs: Any) -> None:
        """Declare parameters, load the engine (EngineLoadError if it fails), wire topics."""
        super().__init__(NODE_NAME, **kwargs)
        for spec in params.PARAMETERS:
            self.declare_parameter(spec.name, spec.default, params.descriptor(spec))
        self._config = {s.name: self.get_parameter(s.name).value for s in params.PARAMETERS}
        problem = params.startup_problem(self._config)
        if problem:
            raise ValueError(problem)
        self._load_engine(engine_factory or default_engine_factory)
        self._stats, self._throttle = diag.Stats(BAD_INPUT_REASONS), diag.Throttle(1.0)
        self._scorer = GroundTruthScorer(self._active.disparity_cap())
        self._sync = PairSynchronizer(**sync.options(self._config))
        self._stamps = StampGuard()

        self._watch = diag.InputWatch(None)
        self._subs = inputs.subscribe_inputs(self, self._on_image, self._on_info,
                                             self._watch.qos_incompatible)
        if self._config['cache_camera_info']:
            self._latched_info_subs = inputs.subscribe_latched_infos(self, self._on_info)
        self._topics = Topics(*(self._subs[s].topic_name for s in (
            LEFT_IMAGE, RIGHT_IMAGE, LEFT_INFO, RIGHT_INFO)))
        self._watch.watch(self._topics)
        self._advertise()
        self._reporter = diag.Reporter(time.monotonic())
        self._last_output = time.monotonic()
        # Diagnostics and the stall watch run on the wall clock: with use_sim_time and no
        # /clock (a bag played without --clock) a ROS-time timer would never fire, and the node
        # would go silent exactly when a user replays data. Output stamps still come from the
        # input messages.
        self._started = time.monotonic()
        self._clock_warned = -1e9
        self._reported_failures = 0
        self._sync_seen = (0, 0)   # the synchroniser's (dropped, matched) at the last report
        self._timer = self.create_timer(1.0, self._publish_diagnostics,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # Humble's rclpy has no post-set callback: there the on-set callback asks for it.
        self._post_set_available = hasattr(self, 'add_post_set_parameters_callback')
        if self._post_set_available:
            self.add_post_set_parameters_callback(self._after_set_parameters)
        self._worker = LatestJobWorker(self._process, self._rebuild_engine,
                                       self._on_worker_error, 'thermostereo_inference')
        self.get_logger().info(f'{self._active.summary()}; waiting for '
                               f'{self._topics.left_image} and {self._topics.right_image}')

    def _load_engine(self, factory: EngineFactory) -> None:
        """Load the engine, name ignored parameters, and warm up for the size expected."""
        self._active = ActiveEngine(factory, self._config)
        self._warn_cap()
        # Parameters given for this node (params file, -p) that it does not declare: rclpy
        # keeps them as overrides and ignores them silently; stereo_image_proc's get a WARN.
        self.ignored_parameters = params.stereo_image_proc_warnings(
            name for name in getattr(self, '_parameter_overrides', {})
            if name not in params.DEFAULTS)
        for line in self.ignored_parameters:
            self.get_logger().warning(line)
        size, source = params.parse_size(self._config['warmup_size']), 'warmup_size'
        if size is None and self._config['export_cache']:
            # A restarted node most likely sees the camera it saw last: warm up for that size.
            size = self._active.remembered_size(self.get_fully_qualified_name())
            source = 'the size this node ran at last'
        if size and self._active.new_size(size, self._config['max_image_pixels']):
            self._warm_up(source)  # before subscribing: the first pair is then as fast

    def _advertise(self) -> None:
        """Create the ground-truth input (evaluate_against) and every output's publisher."""
        overrides = QoSOverridingOptions.with_default_policies()
        scoring = self._config['evaluate_against']
        if scoring:
            self._gt_sub = self.create_subscription(
                Image, 'left/depth_gt', self._on_depth_gt, qos_profile_sensor_data,
                qos_overriding_options=overrides)
        self._outputs = {spec.topic: self.create_publisher(
            spec.msg_type, spec.topic, QoSProfile(depth=5), qos_overriding_options=overrides)
            for spec in OUTPUTS}
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        typed = status.AVAILABLE  # the per-frame messages of msg/, where they were built
        self._pub_status = self.create_publisher(status.StereoStatus, '~/status', 10) \
            if typed else None
        self._pub_evaluation = self.create_publisher(
            status.StereoEvaluation, '~/evaluation', 10) if typed and scoring else None

    # Parameters and engine --------------------------------------------------------------------

    def _on_set_parameters(self, parameters: list) -> SetParametersResult:
        config, changed, problem = params.apply(self._config,
                                                {p.name: p.value for p in parameters})
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        self._config = config
        if changed & params.SYNC_PARAMETERS:
            self._sync.configure(**sync.options(config))
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

    def _warm_up(self, source: str = '') -> None:
        seconds = self._active.warm_up()
        if seconds and self._config['export_cache']:
            self._active.remember_size(self.get_fully_qualified_name())
        if seconds:
            height, width = self._active.warm_size
            self.get_logger().info(f'warmed up for {width}x{height}'
                                   f'{" (" + source + ")" if source else ""} in {seconds:.2f} s')

    def _warn_cap(self) -> None:
        if self._active.cap_warning():
            self.get_logger().warning(self._active.cap_warning())

    def _rebuild_engine(self) -> None:
        config = dict(self._config)
        revert = self._active.rebuild(config, params.ENGINE_PARAMETERS)
        if revert:  # set the parameters back to what runs, so that they never lie
            back = ', '.join(f'{k}={v!r}' for k, v in sorted(revert.items()))
            self.get_logger().error(f'{self._active.last_reload_error}; parameters set back to '
                                    f'{back}')
            self.set_parameters([Parameter(k, value=v) for k, v in revert.items()])
            return
        self._warn_cap()
        self._scorer.set_max_disparity(self._active.disparity_cap())
        self.get_logger().info(f'engine rebuilt: {self._active.summary()}')
        self._warm_up()

    # Input callbacks (executor thread) --------------------------------------------------------

    def _bad_input(self, topic: str, reason: str, text: str) -> None:
        count = self._stats.count_bad(reason, f'{topic}: {text}')
        self._log_throttled((topic, reason), f'{topic}: {text}; pair dropped ({reason}: '
                                             f'{count} so far)')

    def _log_throttled(self, key: tuple, text: str) -> None:
        if self._throttle.ready(key, time.monotonic()):
            self.get_logger().error(text)

    def _follow_timeline(self, stream: str, header: Header) -> None:
        back_ns, started = self._stamps.went_back(stream, stamp_ns(header))
        if back_ns:  # never pair across the jump: this stream's queue is the old timeline's
            self._sync.reset(stream)
        if started:  # a looped bag or a restarted clock: follow it, drop nothing
            self._stats.count(timeline_restarts=1)
            self.get_logger().info(
                f'{self._subs[stream].topic_name}: stamps jumped back by {back_ns / 1e9:.3f} s '
                f'(a looped bag or a restarted clock); following the new timeline '
                f'({self._stats.timeline_restarts} so far)')

    def _on_image(self, stream: str, msg: Image) -> None:
        received, started = time.monotonic(), time.perf_counter()
        self._watch.arrived[_SIDE[stream]] = received
        self._follow_timeline(stream, msg.header)
        try:
            image = image_to_numpy(msg, self._config['max_image_pixels'])
        except InputError as exc:  # a rejected message leaves the stream's last stamp alone
            self._bad_input(self._subs[stream].topic_name, exc.reason, str(exc))
            return
        self._stamps.accept(stream, stamp_ns(msg.header))
        self._stats.latency_sample('conversion', (time.perf_counter() - started) * 1e3)
        frame = Frame(msg.header, image, msg.encoding, received)
        self._offer(self._sync.add(stream, stamp_ns(msg.header), frame))

    def _on_info(self, stream: str, msg: CameraInfo) -> None:
        if stream == LEFT_INFO and self._active.new_size((int(msg.height), int(msg.width)),
                                                         self._config['max_image_pixels']):
            self._worker.submit(self._warm_up)  # now, so that the first frame is not slow
        if not self._config['cache_camera_info']:
            self._follow_timeline(stream, msg.header)
            self._stamps.accept(stream, stamp_ns(msg.header))
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
        stale = self._worker.offer(PairJob(pair.stamp_ns, pair.left_image, pair.right_image,
                                           camera, float(pair.right_info.p[0]),
                                           self._stamps.timeline))
        self._stats.count(pairs_in=1, stale=int(stale is not None))
        if stale is not None:
            self._publish_status(stale.left, stale.right, drop_reason='stale')

    # Worker thread ----------------------------------------------------------------------------

    def _on_worker_error(self, exc: BaseException) -> bool:
        if not self.context.ok():
            return False  # shut down mid-frame, so publishing failed: the node is stopping
        text = f'processing failed: {type(exc).__name__}: {exc}'
        self._stats.count_error(text)
        self._log_throttled(('worker', type(exc).__name__), text)
        return True

    def _process(self, job: PairJob, waited_ms: float) -> None:
        if self._stamps.older_than_processed(job.timeline, job.stamp_ns):
            self._stats.count(stale=1)
            self._publish_status(job.left, job.right, drop_reason='stale')
            return
        config, scoring = self._config, self._config['evaluate_against']
        topics = wanted(config, {t: p.get_subscription_count() > 0
                                 for t, p in self._outputs.items()})
        if not any(topics.values()) and not (scoring and self._scorer.has_ground_truth(
                job.stamp_ns)):
            self._stats.count(skipped_no_subscribers=1)
            self._publish_status(job.left, job.right, drop_reason='no_subscribers')
            return
        self._stamps.processed(job.timeline, job.stamp_ns)
        max_disparity, camera = self._active.disparity_cap(), job.camera
        result = run_pair(self._active.engine, job.left.image, job.right.image,
                          doffs=camera.doffs, max_disparity=max_disparity,
                          confidence_threshold=config['confidence_threshold'],
                          min_contrast=config['min_contrast'], keep_adjusted=scoring,
                          lr_tolerance=(config['lr_check_tolerance'] if config['lr_check']
                                        else None))
        # Each message goes out as soon as it is built: the disparity does not wait for the
        # point cloud. Building counts as post-processing, the rest as publishing.
        postprocess_ms, publish_ms = result.postprocess_ms, 0.0
        started = time.perf_counter()
        for topic, msg in iter_messages(Products(
                result.disparity, result.valid, result.confidence, camera, job.right_fx,
                max_disparity, job.left.image), job.left.header, topics, config):
            built = time.perf_counter()
            self._outputs[topic].publish(msg)
            sent = time.perf_counter()
            postprocess_ms += (built - started) * 1e3
            publish_ms += (sent - built) * 1e3
            started = sent
        if scoring:
            self._scored(job.left.header,
                         self._scorer.add_prediction(job.stamp_ns, result.adjusted, camera))
        self._last_output = now = time.monotonic()
        first, last = sorted((job.left.received, job.right.received))
        self._stats.count_output(dict(
            queue_wait=waited_ms, inference_latency=result.inference_ms,
            postprocess=postprocess_ms, publish=publish_ms, pipeline_latency=(now - last) * 1e3,
            end_to_end_latency=(now - first) * 1e3), low_contrast=result.uniform,
            lr_kept=result.lr_kept)
        self._publish_status(job.left, job.right, timings=dict(
            queue_wait_ms=waited_ms, inference_ms=result.inference_ms,
            postprocess_ms=postprocess_ms, end_to_end_ms=(now - first) * 1e3),
            summary=lambda: dict(status.frame_summary(result.disparity, result.valid,
                                                      result.confidence, camera.focal_baseline),
                                 lr_kept_fraction=result.lr_kept))

    def _publish_status(self, left: Frame, right: Frame, timings: Optional[dict] = None,
                        summary: Optional[Callable[[], dict]] = None,
                        drop_reason: str = '') -> None:
        if self._pub_status is None or self._pub_status.get_subscription_count() == 0:
            return  # nobody listens: not even the frame summary is computed
        self._pub_status.publish(status.status_message(
            left.header, left.header.stamp, right.header.stamp, timings or {},
            summary() if summary else {}, self._active.describe(), self._stats.locked_counts(),
            self._sync.dropped, drop_reason))

    # Diagnostics ------------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        inputs = self._watch.fields(now, self._sync, self._stamps)
        level, message, values = self._reporter.report(
            now, self._stats, inputs, '', now - self._last_output,
            self._sync.dropped, self._active.describe(),
            self._scorer.result() if self._config['evaluate_against'] else None)
        values = list(values)
        warnings = self._period_warnings(now, values)
        if warnings and level < diag.WARN:
            level, message = diag.WARN, warnings[0]
        name = self.get_fully_qualified_name()
        self._pub_diagnostics.publish(status.diagnostic_array(
            diag.status_name(name), name, level, message, values,
            self.get_clock().now().to_msg()))

    def _period_warnings(self, now: float, values: list) -> list:
        """Append this period's clock, pairing, QoS and reload entries; return its WARN texts.

        The first WARN text names the status when nothing worse does.
        """
        warnings = []
        if self._waiting_for_clock(now):
            values.append(('clock', diag.CLOCK_MISSING))
        dropped, matched = self._sync.dropped, self._sync.matched
        unpaired = diag.unpaired_warning(
            dropped - self._sync_seen[0], matched - self._sync_seen[1],
            self._sync.stamp_gaps_ns(), self._config['approximate_sync'],
            self._config['approximate_sync_tolerance_seconds'])
        self._sync_seen = (dropped, matched)
        if unpaired:
            values.append(('unpaired', unpaired))
            warnings.append(unpaired)
        values.extend((f'incompatible_qos {topic}', what)
                      for topic, what in self._watch.incompatible_qos.items())
        failures = self._active.reload_failures
        if failures:
            values += [('reload_failures', str(failures)),
                       ('last_reload_error', self._active.last_reload_error)]
            if failures > self._reported_failures:
                # One WARN report for the attempt; afterwards the state is the running model's.
                warnings.append(f'model reload failed: {self._active.last_reload_error}')
        self._reported_failures = failures
        return warnings

    def _waiting_for_clock(self, now: float) -> bool:
        """Tell whether use_sim_time is on and no /clock has come (a WARN every 30 s)."""
        if not self.get_parameter('use_sim_time').value or \
                self.get_clock().now().nanoseconds != 0 or now - self._started < 3.0:
            return False
        if now - self._clock_warned >= 30.0:
            self._clock_warned = now
            self.get_logger().warn(diag.CLOCK_MISSING)
        return True

    # Shutdown ---------------------------------------------------------------------------------

    def stop_worker(self, timeout: float = 1.0) -> bool:
        """Let the worker finish its current frame and exit; True if it did within `timeout`."""
        worker = getattr(self, '_worker', None)  # None: construction failed before it started
        return worker is None or worker.stop(timeout)

    def destroy_node(self) -> None:
        """Stop the worker thread, then destroy the node."""
        self.stop_worker()
        super().destroy_node()
