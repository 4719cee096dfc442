# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""End-to-end benchmark of the thermostereo node through real DDS (used by `thermostereo bench`).

The node runs as its own process (`python -m thermostereo_ros.ros.main --ros-args ...`), as it
would in a deployment. This process publishes synchronised left/right images and camera_infos
at a fixed rate (sensor-data QoS, like a camera driver), receives `disparity` and `points2`,
and reads the node's `/diagnostics`. Latency is input stamp to receipt here; stamps are taken
from the system clock, which is also the node's ROS clock (no sim time), so both ends share
one clock on one machine.

`python -m thermostereo_ros.tools.bench_node profile-node OUT.pstats --ros-args ...` runs the
node with cProfile in every thread (the inference worker included), for the profile run.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from thermostereo_ros.ros import diagnostics as keys
from thermostereo_ros.ros.stamps import set_stamp, stamp_ns
from thermostereo_ros.tools.collector import NodeReports, StatusRecord
from thermostereo_ros.tools.node_process import node_command, NodeProcess, wait_until

_RUN_IDS = itertools.count()
# Node functions whose cumulative profile time is reported (module path fragment, name).
PROFILE_FOCUS = (
    ('ros/node.py', '_on_image'), ('ros/node.py', '_process'),
    ('ros/conversions.py', 'image_to_numpy'), ('ros/conversions.py', 'make_disparity_image'),
    ('ros/conversions.py', 'disparity_to_pointcloud'), ('ros/conversions.py', '_byte_array'),
    ('ros/conversions.py', 'valid_window'), ('geometry/reprojection.py', 'disparity_to_points'),
    ('inference/engine.py', 'infer'), ('inference/engine.py', '_check_pair'),
    ('data/normalization.py', 'normalize_pair'), ('ros/sync.py', 'add'),
    ('rclpy/publisher.py', 'publish'), ('ros/node.py', '_publish_diagnostics'),
)


def camera_infos(height: int, width: int, fx: float, baseline: float) -> Tuple[Any, Any]:
    """Rectified left/right CameraInfo for a pinhole pair with principal point at the centre."""
    from sensor_msgs.msg import CameraInfo

    infos = []
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    for frame, tx in (('thermal_left_optical', 0.0), ('thermal_right_optical', -fx * baseline)):
        info = CameraInfo(height=height, width=width, distortion_model='plumb_bob')
        info.header.frame_id = frame
        info.d = [0.0] * 5
        info.k = [fx, 0.0, cx, 0.0, fx, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, tx, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        infos.append(info)
    return infos[0], infos[1]


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


def offline_components_ms(image: np.ndarray, fx: float, baseline: float,
                          repeats: int = 10) -> Dict[str, float]:
    """Median cost of the node's per-pair conversion and message building, timed here.

    Same functions and sizes as the node's callbacks and worker, measured apart from DDS and
    inference; the node's own per-stage timings are in its diagnostics (node_*_p50_ms).
    """
    from std_msgs.msg import Header

    from thermostereo_ros.geometry import StereoCamera
    from thermostereo_ros.ros.conversions import (
        disparity_to_pointcloud, image_to_numpy, make_disparity_image, numpy_to_image,
        valid_window)
    from thermostereo_ros.inference.postprocess import mask_invalid, validity

    height, width = image.shape
    left_info, right_info = camera_infos(height, width, fx, baseline)
    camera = StereoCamera.from_projection(left_info.p, right_info.p, left_info.k)
    header = Header(frame_id='thermal_left_optical')
    msg = numpy_to_image(image, header, 'mono16')
    disparity = np.random.default_rng(0).uniform(1, 64, image.shape).astype(np.float32)
    confidence = np.ones_like(disparity)

    def post() -> None:
        # The node's validity mask and DisparityImage / PointCloud2 construction.
        adjusted, valid = validity(disparity, confidence, camera.doffs, 192.0, 0.0)
        out = mask_invalid(adjusted, valid, copy=False)
        make_disparity_image(out, header, f=fx, t=baseline, min_disparity=0.0,
                             max_disparity=192.0, delta_d=1 / 16, valid_window=valid_window(valid))
        disparity_to_pointcloud(out, camera, header, image, adjusted=True, max_depth=100.0)

    def median_ms(fn) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
        return float(np.median(times))

    return {'conversion_ms': 2 * median_ms(lambda: image_to_numpy(msg)),
            'message_build_ms': median_ms(post)}


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
        return [sys.executable, '-m', 'thermostereo_ros.tools.bench_node', 'profile-node',
                str(profile_out), '--ros-args', *ros_args]
    return node_command(ros_args)


def _topic_summary(sent: Dict[int, int], receipts: Dict[int, int],
                   rate_hz: float) -> Dict[str, Any]:
    from thermostereo_ros.evaluation.bench_measure import summarize_ms

    got = sorted((stamp, t) for stamp, t in receipts.items() if stamp in sent)
    latencies = [(t - stamp) / 1e6 for stamp, t in got]
    rate = None
    if len(got) >= 2:
        span = (got[-1][1] - got[0][1]) / 1e9
        rate = (len(got) - 1) / span if span > 0 else None
    return {'delivered': len(got), 'drops': len(sent) - len(got), 'rate_hz': rate,
            'delivered_fraction': len(got) / max(1, len(sent)),
            'latency': summarize_ms(latencies)}


def _float(values: Dict[str, str], key: str) -> Optional[float]:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None


def _breakdown(diag: Dict[str, str], offline: Dict[str, float]) -> Dict[str, Any]:
    inference = _float(diag, keys.latency_key('inference_latency', 50))
    pipeline = _float(diag, keys.latency_key('pipeline_latency', 50))
    out: Dict[str, Any] = {
        'node_inference_p50_ms': inference, 'node_pipeline_p50_ms': pipeline,
        'node_end_to_end_p50_ms': _float(diag, keys.latency_key('end_to_end_latency', 50)),
        # Stage timings the node measures itself (its /diagnostics).
        **{f'node_{stage}_p50_ms': _float(diag, f'{stage}_p50_ms')
           for stage in ('queue_wait', 'conversion', 'postprocess', 'publish')},
        'conversion_ms (both images, timed in the bench process)': offline['conversion_ms'],
        'message_build_ms (mask, DisparityImage, points, PointCloud2; timed in the bench '
        'process)': offline['message_build_ms'],
    }
    if inference and pipeline:
        out['inference_share_of_pipeline'] = inference / pipeline
        out['conversion_share_of_pipeline'] = offline['conversion_ms'] / pipeline
        out['message_build_share_of_pipeline'] = offline['message_build_ms'] / pipeline
        out['other_share_of_pipeline (sync wait, queue, publish, unattributed)'] = max(
            0.0, 1.0 - (inference + offline['conversion_ms'] + offline['message_build_ms'])
            / pipeline)
    return out


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
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data, QoSProfile
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import Header
    from stereo_msgs.msg import DisparityImage

    from thermostereo_ros.inference.shifted_texture import synthetic_pair
    from thermostereo_ros.ros.conversions import numpy_to_image
    from thermostereo_ros.ros.dds import apply_profile

    dds = apply_profile(dds_profile)
    height, width = size
    fx, baseline = 0.9 * width, 0.24
    namespace = f'/tsbench_{os.getpid()}_{next(_RUN_IDS)}'
    left, right = synthetic_pair(height, width, 24)
    left_info, right_info = camera_infos(height, width, fx, baseline)
    left_msg = numpy_to_image(left, Header(frame_id=left_info.header.frame_id), 'mono16')
    right_msg = numpy_to_image(right, Header(frame_id=right_info.header.frame_id), 'mono16')
    result: Dict[str, Any] = {'size': f'{width}x{height}', 'rate_hz': rate_hz,
                              'warmup_size': f'{width}x{height}' if warm_up_first else '',
                              'namespace': namespace, 'qos_input': 'sensor data (best effort)',
                              'export_cache': export_cache_home or 'off', **dds}

    env = None if export_cache_home is None else {**os.environ,
                                                  'XDG_CACHE_HOME': export_cache_home}
    node_proc = NodeProcess(_node_command(checkpoint, namespace, device, precision,
                                          profile_out, f'{width}x{height}' * warm_up_first,
                                          export_cache_home is not None), env=env)
    context = rclpy.Context()
    rclpy.init(context=context)
    bench = rclpy.create_node('thermostereo_bench', namespace=namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(bench)
    collector = _Collector()

    def spin() -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    try:
        pubs = {
            'left_image': bench.create_publisher(Image, 'left/image_rect',
                                                 qos_profile_sensor_data),
            'right_image': bench.create_publisher(Image, 'right/image_rect',
                                                  qos_profile_sensor_data),
            'left_info': bench.create_publisher(CameraInfo, 'left/camera_info',
                                                qos_profile_sensor_data),
            'right_info': bench.create_publisher(CameraInfo, 'right/camera_info',
                                                 qos_profile_sensor_data),
        }
        out_qos = QoSProfile(depth=10)
        subs = [bench.create_subscription(DisparityImage, 'disparity',
                                          lambda m: collector.on_output('disparity', m), out_qos),
                bench.create_subscription(PointCloud2, 'points2',
                                          lambda m: collector.on_output('points2', m), out_qos)]
        bench.create_subscription(DiagnosticArray, '/diagnostics', collector.on_diagnostics, 10)
        from thermostereo_ros.ros import status
        if status.AVAILABLE:
            bench.create_subscription(status.StereoStatus, 'thermostereo/status',
                                      collector.on_status, QoSProfile(depth=100))
        spinner.start()
        wait_until(lambda: all(p.get_subscription_count() > 0 for p in pubs.values())
                   and all(s.get_publisher_count() > 0 for s in subs), start_timeout, node_proc,
                   'the node to load its model and match topics')

        def send(stamp: int) -> None:
            # The same pre-built messages every time: only the stamps change, so the
            # publisher's own cost stays small and constant.
            for msg in (left_info, right_info, left_msg, right_msg):
                set_stamp(msg.header, stamp)
            pubs['left_info'].publish(left_info)
            pubs['right_info'].publish(right_info)
            pubs['left_image'].publish(left_msg)
            pubs['right_image'].publish(right_msg)

        # Start-up as a driver does it: calibration and images from the first pair on, at the
        # measured rate, until outputs come back. The first output's delay after the first
        # pair is what a robot waits at start-up (the node warms up on the first camera_info).
        deadline = time.monotonic() + first_output_timeout
        first_sent, warm_stamps = time.time_ns(), []
        while not collector.receipts['points2'] or not collector.receipts['disparity']:
            if not node_proc.alive() or time.monotonic() > deadline:
                raise RuntimeError('no output from the node during warm-up; node output:\n'
                                   + node_proc.tail())
            warm_stamps.append(time.time_ns())
            send(warm_stamps[-1])
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
            result['warmup_outcomes'] = _outcomes(
                [r for r in collector.statuses if r.stamp <= stamp])
        if first_status:
            result['first_output_stages_ms'] = _stages(first_status[0])
        for _ in range(5):
            send(time.time_ns())
            time.sleep(1.0 / rate_hz)
        time.sleep(1.0)
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
            send(stamp)
            sent[stamp] = i
        send_span = time.perf_counter() - start
        end = time.monotonic()
        # Stragglers: whatever is still in the node's queue arrives within a few frame times.
        _wait_quiet(collector, max(2.0, 5 * period))
        diag_deadline = time.monotonic() + 3.0
        while (collector.latest_diagnostics(end) is None
               and time.monotonic() < diag_deadline):
            time.sleep(0.05)
        after = collector.latest_diagnostics(end) or collector.latest_diagnostics() or {}
        with collector.lock:
            receipts = {k: dict(v) for k, v in collector.receipts.items()}
            statuses = list(collector.statuses)
        result['node_status'] = _status_summary(statuses)
        result['sent'] = len(sent)
        result['achieved_input_rate_hz'] = (len(sent) - 1) / send_span if send_span > 0 else None
        result['topics'] = {topic: _topic_summary(sent, receipts[topic], rate_hz)
                            for topic in ('disparity', 'points2')}
        result['node_diagnostics'] = after
        # The node's own account from its typed ~/status where msg/ is built, else from the
        # /diagnostics counters.
        result['node_counter_deltas'] = _status_deltas(statuses) if statuses else \
            _counter_deltas(before, after)
        offline = offline_components_ms(left, fx, baseline)
        result['breakdown'] = _breakdown(after, offline)
    finally:
        executor.shutdown(timeout_sec=2.0)
        bench.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(2.0)
        result['node_exit_code'] = node_proc.stop()
    if profile_out is not None:
        result.update(profile_summary(profile_out))
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


def _outcomes(statuses: List[StatusRecord]) -> Dict[str, int]:
    outcomes: Dict[str, int] = {}
    for record in statuses:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    return outcomes


def _stages(record: StatusRecord) -> Dict[str, float]:
    """One published pair's node-side timings (ms), as its StereoStatus gave them."""
    return {'queue_wait': record.queue_wait_ms, 'inference': record.inference_ms,
            'postprocess': record.postprocess_ms, 'end_to_end': record.end_to_end_ms}


def _status_summary(statuses: List[StatusRecord]) -> Dict[str, Any]:
    """Outcomes by reason and the published pairs' per-stage p50/p95 (ms)."""
    from thermostereo_ros.evaluation.report import percentiles
    published = [s for s in statuses if s.outcome == 'published']
    return {'messages': len(statuses), 'by_outcome': _outcomes(statuses),
            **{f'{stage}_ms': percentiles(_stages(s)[stage] for s in published)
               for stage in ('queue_wait', 'inference', 'postprocess', 'end_to_end')}}


def _status_deltas(statuses: List[StatusRecord]) -> Dict[str, int]:
    """Return the counters of _counter_deltas, counted from the run's StereoStatus messages."""
    outcomes = _outcomes(statuses)
    taken = sum(outcomes.get(r, 0) for r in ('published', 'stale', 'no_subscribers'))
    return {keys.PAIRS_IN: taken, keys.PAIRS_OUT: outcomes.get('published', 0),
            keys.DROPS_STALE: outcomes.get('stale', 0),
            keys.DROPS_BAD_INPUT: sum(outcomes.values()) - taken,
            keys.SKIPPED_NO_SUBSCRIBERS: outcomes.get('no_subscribers', 0)}


def _counter_deltas(before: Dict[str, str], after: Dict[str, str]) -> Dict[str, int]:
    counters = (keys.PAIRS_IN, keys.PAIRS_OUT, keys.DROPS_STALE, keys.DROPS_UNSYNCHRONISED,
                keys.DROPS_BAD_INPUT, keys.INFERENCE_ERRORS, keys.SKIPPED_NO_SUBSCRIBERS)
    out = {}
    for key in counters:
        try:
            out[key] = int(after[key]) - int(before.get(key, 0))
        except (KeyError, ValueError):
            continue
    return out


def profile_summary(path: pathlib.Path, top: int = 15) -> Dict[str, Any]:
    """Cumulative time of the node functions in PROFILE_FOCUS, and the top by own time."""
    import pstats

    if not path.is_file():
        return {'profile_error': f'{path} was not written (did the node exit cleanly?)'}
    stats = pstats.Stats(str(path))
    focus, own = [], []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():
        label = f'{_short(filename)}:{line}({name})'
        if any(filename.endswith(mod) and name == fn for mod, fn in PROFILE_FOCUS):
            focus.append({'function': label, 'calls': calls, 'cumulative_s': cumtime,
                          'own_s': tottime})
        own.append({'function': label, 'calls': calls, 'own_s': tottime,
                    'cumulative_s': cumtime})
    focus.sort(key=lambda e: -e['cumulative_s'])
    own.sort(key=lambda e: -e['own_s'])
    return {'profile_file': str(path), 'profile_top': focus,
            'profile_own_time_top': own[:top]}


def _short(filename: str) -> str:
    parts = pathlib.Path(filename).parts
    for anchor in ('thermostereo_ros', 'rclpy', 'numpy', 'torch'):
        if anchor in parts:
            return '/'.join(parts[parts.index(anchor):])
    return filename


def profile_node(out: str, ros_argv: List[str]) -> int:
    """Run the node's main() with cProfile in every thread; write merged stats to `out`."""
    import cProfile
    import pstats

    from thermostereo_ros.ros import main as node_main

    finished: List[cProfile.Profile] = []
    original_run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        # cProfile hooks one thread only; the inference worker is where the time goes.
        prof = cProfile.Profile()
        prof.enable()
        try:
            original_run(thread)
        finally:
            prof.disable()
            finished.append(prof)

    threading.Thread.run = profiled_run
    main_prof = cProfile.Profile()
    main_prof.enable()
    try:
        code = node_main.run([sys.argv[0], *ros_argv])
    finally:
        main_prof.disable()
        stats = pstats.Stats(main_prof)
        for prof in finished:
            stats.add(prof)
        stats.dump_stats(out)
    return code


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'profile-node':
        sys.exit(profile_node(sys.argv[2], sys.argv[3:]))
    print('usage: python -m thermostereo_ros.tools.bench_node profile-node OUT.pstats '
          '--ros-args ...  (the benchmark itself runs via `thermostereo bench`)',
          file=sys.stderr)
    sys.exit(2)
