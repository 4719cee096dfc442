# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo demo`: synthetic MS2 data -> rosbag2 -> DDS replay -> the node -> evaluation.

The whole online pipeline on one machine with nothing but this package: a day and a night
synthetic sequence are written in the MS2 layout (`data.ms2_writer`), converted to bags with
depth ground truth (`bags.ms2_to_bag`), and replayed (`tools.replay`) into the real node, run
as a subprocess with `evaluate_against:=true`. What the node publishes is collected over DDS
and scored against the ground truth next to the SGBM baseline on the same frames. Results
go to `--out`: a colourised disparity strip, one frame's point cloud as PLY, summary.json.

Every topic lives under a private namespace (`/thermostereo_demo_<pid>`) so a camera driver
or another demo on the same machine and ROS domain cannot mix frames into this one.
"""

import argparse
import json
import math
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from thermostereo_ros.evaluation.report import json_safe, percentiles
from thermostereo_ros.inference import backends
from thermostereo_ros.ros import diagnostics as keys
from thermostereo_ros.ros.dds import apply_profile, PROFILE_CHOICES
from thermostereo_ros.ros.stamps import stamp_ns
from thermostereo_ros.tools.collector import NodeReports, StatusRecord
from thermostereo_ros.tools.node_process import node_command, NodeProcess, wait_until

CONDITIONS = ('day', 'night')
INPUT_TOPICS = ('left/image_rect', 'right/image_rect', 'left/camera_info', 'right/camera_info',
                'left/depth_gt')
STRIP_FRAMES_PER_CONDITION = 2
NODE_READY_TIMEOUT_S = 120.0
# After the last input, wait this long without a new output before calling the run over:
# the node works on at most one frame plus one waiting in its slot.
OUTPUT_IDLE_S = 5.0
NODE_STOP_TIMEOUT_S = 15.0
WARM_UP_FRAMES = 1
# The node's outputs as an MCAP bag in the output folder (a tenth of the clouds: 2.6 MB each).
OUTPUTS_BAG = 'outputs_bag'
CLOUD_EVERY = 10
OUTPUT_FILES = ('disparity_strip.png', 'pointcloud.ply', 'summary.json')


class DemoError(RuntimeError):
    """The demo cannot go on; the message is one line for the user."""


# Input and model ------------------------------------------------------------------------------

def resolve_model(model_path: Optional[str]) -> Tuple[pathlib.Path, Dict[str, Any]]:
    """Return (checkpoint path, metadata); DemoError with one line if it is missing or bad."""
    from thermostereo_ros.inference import CheckpointError, load_checkpoint
    from thermostereo_ros.inference.engine import resolve_checkpoint

    try:
        path = resolve_checkpoint(model_path).resolve()
    except CheckpointError:  # only the default can be missing here
        raise DemoError(
            'default weights (thermostereo_ros/weights/thermostereo_rt_default.safetensors) '
            'are not installed; pass --model-path PATH to a ThermoStereoRT checkpoint'
        ) from None
    try:
        _, metadata = load_checkpoint(path)
    except CheckpointError as exc:
        raise DemoError(f'cannot use model: {exc}') from None
    return path, metadata


# The renderer the shipped weights were trained on, so that the demo's numbers stay
# comparable from release to release; renderer v3's held-out numbers are in RESULTS.md.
DEMO_RENDERER_VERSION = 2


def render_dataset(root: pathlib.Path, frames: int, height: int, width: int, seed: int,
                   max_disparity: float) -> List[Tuple[str, str]]:
    """Write one day and one night sequence of frames/2 frames each; [(sequence, condition)]."""
    from thermostereo_ros.data.ms2_writer import write_dataset

    per_sequence = max(1, math.ceil(frames / len(CONDITIONS)))
    splits = write_dataset(str(root), len(CONDITIONS), per_sequence, height, width, seed,
                           CONDITIONS, max_disparity, version=DEMO_RENDERER_VERSION)
    # write_dataset files each condition's first sequence under its test split.
    return [(splits[f'test_{c}'][0], c) for c in CONDITIONS]


# Node subprocess ------------------------------------------------------------------------------

def _wait(predicate: Any, timeout: float, node: NodeProcess, what: str) -> None:
    # Demo errors are one line (`demo: error: ...`): quote only the node's last line.
    wait_until(predicate, timeout, node, what, error=DemoError, poll_s=0.05, tail_lines=1)


# Collector ------------------------------------------------------------------------------------

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
        import rclpy
        import rclpy.signals
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data, QoSProfile
        from sensor_msgs.msg import Image, PointCloud2
        from stereo_msgs.msg import DisparityImage

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
        from thermostereo_ros.ros import status
        self.recorder = None
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
        from rclpy.executors import ExternalShutdownException
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def _on_input(self, msg: Any) -> None:
        now = time.monotonic()
        with self.lock:
            self.data.input_time.setdefault(stamp_ns(msg.header), now)

    def _on_disparity(self, msg: Any) -> None:
        from thermostereo_ros.ros.conversions import image_to_numpy

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
        from thermostereo_ros.bags.recorder import BagRecorder
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
        import rclpy
        self.executor.shutdown(timeout_sec=2.0)
        if self.recorder is not None:
            self.recorder.close()
            self.data.recorded = dict(self.recorder.counts)
        rclpy.try_shutdown(context=self.context)
        self._thread.join(2.0)


# Evaluation -----------------------------------------------------------------------------------

def _bag_image(msg: Any) -> np.ndarray:
    """Return a rosbags mono16 / 32FC1 Image as a numpy array."""
    dtype = np.dtype('<u2') if msg.encoding == 'mono16' else np.dtype('<f4')
    rows = np.frombuffer(np.asarray(msg.data, np.uint8).tobytes(), np.uint8)
    rows = rows.reshape(msg.height, msg.step)[:, :msg.width * dtype.itemsize]
    return rows.view(dtype).reshape(msg.height, msg.width).astype(dtype.newbyteorder('='))


def iter_bag_frames(bag: pathlib.Path):
    """Yield (stamp_ns, left, right, depth_gt, StereoCamera) per complete frame of a bag."""
    from thermostereo_ros.bags import ms2_to_bag as m2b
    from thermostereo_ros.bags.reader import iter_messages
    from thermostereo_ros.geometry import StereoCamera

    parts: Dict[int, Dict[str, Any]] = {}
    names = {m2b.TOPIC_LEFT_IMAGE: 'left', m2b.TOPIC_RIGHT_IMAGE: 'right',
             m2b.TOPIC_DEPTH_GT: 'depth', m2b.TOPIC_LEFT_INFO: 'left_info',
             m2b.TOPIC_RIGHT_INFO: 'right_info'}
    for topic, _, _, msg in iter_messages(bag, list(names)):
        stamp = stamp_ns(msg.header)
        frame = parts.setdefault(stamp, {})
        frame[names[topic]] = msg if topic.endswith('camera_info') else _bag_image(msg)
        if len(frame) == len(names):
            del parts[stamp]
            camera = StereoCamera.from_projection(frame['left_info'].p, frame['right_info'].p)
            yield stamp, frame['left'], frame['right'], frame['depth'], camera


def gt_disparity(depth: np.ndarray, camera: Any) -> np.ndarray:
    """Return ground-truth (principal-point adjusted) disparity from depth; 0 = unknown."""
    known = np.isfinite(depth) & (depth > 0)
    safe = np.where(known, depth, 1.0)
    return np.where(known, np.float32(camera.focal_baseline) / safe, 0.0).astype(np.float32)


def colourise(disparity: np.ndarray, valid: np.ndarray, vmax: float) -> np.ndarray:
    """TURBO colour map over [0, vmax] px (near = red), invalid pixels black; BGR uint8."""
    import cv2

    scaled = np.clip(disparity / max(vmax, 1e-6), 0.0, 1.0) * 255.0
    colour = cv2.applyColorMap(np.rint(scaled).astype(np.uint8), cv2.COLORMAP_TURBO)
    colour[~valid] = 0
    return colour


def _labelled(panel: np.ndarray, text: str) -> np.ndarray:
    """Panel with a black title bar; the font scales with the panel width."""
    import cv2

    width = panel.shape[1]
    scale = max(0.3, min(0.55, width / 1100.0))
    bar = np.zeros((int(40 * scale) + 6, width, 3), np.uint8)
    cv2.putText(bar, text, (4, bar.shape[0] - 7), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


def write_strip(path: pathlib.Path, rows: List[Dict[str, Any]]) -> None:
    """Thermal input | network disparity | SGBM disparity, one row per selected frame.

    Pixels a method left invalid are drawn black (the scores use the filled maps).
    """
    import cv2

    from thermostereo_ros.data.normalization import normalize_pair

    images = []
    for row in rows:
        left, _ = normalize_pair(row['left'], row['right'], mode='joint')
        grey = cv2.cvtColor(np.rint(left * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        gt = row['gt']
        # One colour scale per row, from the ground truth, so both methods are comparable.
        vmax = float(np.percentile(gt[gt > 0], 99)) * 1.1 if np.any(gt > 0) else 64.0
        net_valid = row['network_valid']
        panels = [
            _labelled(grey, f'thermal left, {row["condition"]} #{row["index"]}'),
            _labelled(colourise(row['network'], net_valid, vmax),
                      f'ThermoStereoRT  EPE {row["network_epe"]:.2f} px'),
            _labelled(colourise(row['sgbm'], row['sgbm_valid'], vmax),
                      f'SGBM  EPE {row["sgbm_epe"]:.2f} px  (0-{vmax:.0f} px)'),
        ]
        images.append(np.hstack(panels))
    if not cv2.imwrite(str(path), np.vstack(images)):
        raise DemoError(f'could not write {path}')


def write_ply(path: pathlib.Path, cloud_msg: Any) -> int:
    """Binary little-endian PLY (float x y z intensity) of a cloud's finite points."""
    from thermostereo_ros.ros.conversions import pointcloud_to_numpy

    cloud = pointcloud_to_numpy(cloud_msg).reshape(-1)
    finite = np.isfinite(cloud['x']) & np.isfinite(cloud['y']) & np.isfinite(cloud['z'])
    vertices = np.empty(int(finite.sum()), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'),
                                                  ('intensity', '<f4')])
    for name in vertices.dtype.names:
        vertices[name] = cloud[name][finite]
    header = ('ply\nformat binary_little_endian 1.0\n'
              f'comment thermostereo demo, frame {cloud_msg.header.frame_id} stamp '
              f'{stamp_ns(cloud_msg.header)} ns, optical frame (x right, y down, z forward)\n'
              f'element vertex {vertices.size}\n'
              'property float x\nproperty float y\nproperty float z\nproperty float intensity\n'
              'end_header\n')
    with open(path, 'wb') as f:
        f.write(header.encode('ascii'))
        f.write(vertices.tobytes())
    return int(vertices.size)


def _metrics(acc: Any) -> Dict[str, Any]:
    result = acc.result()
    return {k: result[k] for k in ('epe', 'd1', 'bad3', 'frames', 'pixels')}


def evaluate(bags: List[Tuple[pathlib.Path, str, Tuple[int, int]]],
             received: Dict[int, np.ndarray], max_disparity: float
             ) -> Tuple[Dict[str, Any], List[Dict[str, Any]], float]:
    """Score the received disparities and SGBM on the same frames; (metrics, strip rows, ms).

    Both methods are scored densely over every ground-truth pixel: holes (network pixels
    published as invalid, SGBM's unmatched pixels) are filled by the same rule
    (`fill_invalid_background`), and each method's density before filling is reported.
    """
    from thermostereo_ros.evaluation.metrics import disparity_metrics, MetricAccumulator
    from thermostereo_ros.evaluation.sgbm import fill_invalid_background, SGBMBaseline

    sgbm = SGBMBaseline(max_disparity=max_disparity)
    accs = {(m, c): MetricAccumulator(max_disparity) for m in ('network', 'sgbm')
            for c in CONDITIONS + ('all',)}
    density = {'network': [], 'sgbm': []}
    rows: List[Dict[str, Any]] = []
    sgbm_seconds = 0.0
    for bag, condition, (first, last) in bags:
        stamps = sorted(s for s in received if first <= s <= last)
        picks = {stamps[int(len(stamps) * (k + 1) / (STRIP_FRAMES_PER_CONDITION + 1))]
                 for k in range(STRIP_FRAMES_PER_CONDITION)} if stamps else set()
        index = 0
        for stamp, left, right, depth, camera in iter_bag_frames(bag):
            index += 1
            if stamp not in received:
                continue
            gt = gt_disparity(depth, camera)
            network = received[stamp]
            net_valid = network >= 0
            net_dense = fill_invalid_background(network, net_valid)
            started = time.perf_counter()
            raw = sgbm.compute_raw(left, right) - np.float32(camera.doffs)
            sgbm_seconds += time.perf_counter() - started
            sgbm_valid = raw > 0
            sgbm_dense = fill_invalid_background(raw, sgbm_valid)
            density['network'].append(float(net_valid.mean()))
            density['sgbm'].append(float(sgbm_valid.mean()))
            for c in (condition, 'all'):
                accs[('network', c)].update(net_dense, gt)
                accs[('sgbm', c)].update(sgbm_dense, gt)
            if stamp in picks:
                rows.append(dict(
                    condition=condition, index=index - 1, left=left, right=right, gt=gt,
                    network=net_dense, network_valid=net_valid, sgbm=sgbm_dense,
                    sgbm_valid=sgbm_valid,
                    network_epe=disparity_metrics(net_dense, gt, max_disparity)['epe'],
                    sgbm_epe=disparity_metrics(sgbm_dense, gt, max_disparity)['epe']))
    metrics: Dict[str, Any] = {}
    for method in ('network', 'sgbm'):
        entry = _metrics(accs[(method, 'all')])
        entry['density'] = float(np.mean(density[method])) if density[method] else math.nan
        entry['by_condition'] = {c: _metrics(accs[(method, c)]) for c in CONDITIONS}
        metrics[method] = entry
    frames = len(density['sgbm'])
    return metrics, rows, (1e3 * sgbm_seconds / frames if frames else math.nan)


# The run --------------------------------------------------------------------------------------

def _node_figures(data: Collected, diag: Dict[str, str],
                  spans: List[Tuple[int, int]]) -> Dict[str, Any]:
    """Return the node's own account of the run.

    From its typed ~/status and ~/evaluation (msg/), or, where those are not built, from the
    /diagnostics strings.
    """
    def in_bags(stamp: int) -> bool:  # not the warm-up pair
        return any(first <= stamp <= last for first, last in spans)

    statuses = [s for s in data.statuses if in_bags(s.stamp)]
    if statuses:
        reasons: Dict[str, int] = {}
        for record in statuses:
            reasons[record.outcome] = reasons.get(record.outcome, 0) + 1
        taken = sum(reasons.get(r, 0) for r in ('published', 'stale', 'no_subscribers'))
        scored = [e for e in data.evaluations if in_bags(e[0])]
        pixels = sum(e[3] for e in scored)
        return {'source': 'StereoStatus/StereoEvaluation', 'by_outcome': reasons,
                'pairs_in': taken, 'pairs_out': reasons.get('published', 0),
                'stale': reasons.get('stale', 0), 'bad_input': sum(reasons.values()) - taken,
                'valid_fraction_mean': float(np.mean([s.valid_fraction for s in statuses
                                                      if s.outcome == 'published']
                                                     or [math.nan])),
                'inference_ms': percentiles(s.inference_ms for s in statuses
                                            if s.outcome == 'published'),
                'online_eval': {
                    'frames': len(scored),
                    # Pixel-weighted over the run, as evaluation/metrics.py accumulates.
                    'epe_px': sum(e[1] * e[3] for e in scored) / pixels if pixels else math.nan,
                    'd1_percent': sum(e[2] * e[3] for e in scored) / pixels
                    if pixels else math.nan}}
    # The node's counters include the warm-up pair; the demo's figures are the bags' frames.
    pairs_in, pairs_out = (None if v is None else v - WARM_UP_FRAMES for v in (
        _diag_int(diag, keys.PAIRS_IN), _diag_int(diag, keys.PAIRS_OUT)))
    return {'source': '/diagnostics', 'pairs_in': pairs_in, 'pairs_out': pairs_out,
            'stale': _diag_int(diag, keys.DROPS_STALE),
            'bad_input': _diag_int(diag, keys.DROPS_BAD_INPUT),
            'inference_ms': {'p50': _diag_float(diag, keys.latency_key('inference_latency', 50)),
                             'p95': _diag_float(diag, keys.latency_key('inference_latency', 95))},
            'online_eval': {'frames': _diag_int(diag, keys.EVAL_FRAMES),
                            'epe_px': _diag_float(diag, keys.EVAL_EPE),
                            'd1_percent': _diag_float(diag, keys.EVAL_D1)}}


def _diag_float(diag: Dict[str, str], key: str) -> float:
    try:
        return float(diag.get(key, 'nan'))
    except ValueError:
        return math.nan


def _diag_int(diag: Dict[str, str], key: str) -> Optional[int]:
    try:
        return int(diag[key])
    except (KeyError, ValueError):
        return None


def provenance_summary(provenance: Dict[str, Any]) -> Dict[str, Any]:
    """Return `provenance` with its `init` chain cut to the path it started from.

    A fine-tuned checkpoint nests the provenance of every run before it under `init`; the
    console shows the last run only (summary.json keeps the whole chain).
    """
    init = provenance.get('init')
    if isinstance(init, dict):
        return dict(provenance, init=init.get('path'))
    return dict(provenance)


def format_table(summary: Dict[str, Any]) -> str:
    """Format the short human-readable result table."""
    fr, lat, inf = summary['frames'], summary['latency_ms'], summary['node_inference_ms']
    lines = [
        f'model    {summary["model"]["path"]}',
        f'         provenance: {json.dumps(provenance_summary(summary["model"]["provenance"]))}',
        f'frames   in {fr["in"]}  out {fr["out"]}  dropped {fr["dropped"]}  (node stale '
        f'{fr["node_stale"]}, unpaired {fr["unpaired"]}, lost after node {fr["lost_output"]})',
        f'rate     {summary["rate_hz"]:.1f} Hz in, {summary["output_fps"]:.2f} FPS out',
        f'dds      {summary.get("dds", {}).get("dds_profile", "not recorded")}',
        f'status   {summary["node_status"]["by_outcome"] or "no ~/status (msg/ not built)"}; '
        f'mean valid fraction {summary["node_status"]["valid_fraction_mean"]:.3f}',
        f'latency  p50 {lat["p50"]:.1f} ms  p95 {lat["p95"]:.1f} ms (left image published -> '
        f'DisparityImage received); node inference p50 {inf["p50"]:.1f} p95 {inf["p95"]:.1f} ms',
        '',
        f'{"":16}{"EPE px":>8}{"D1 %":>8}{"density":>9}'
        + ''.join(f'{c + " EPE":>11}{c + " D1":>9}' for c in CONDITIONS),
    ]
    for label, key in (('ThermoStereoRT', 'network'), ('SGBM', 'sgbm')):
        m = summary['metrics'][key]
        cells = ''.join(f'{m["by_condition"][c]["epe"]:>11.2f}{m["by_condition"][c]["d1"]:>9.1f}'
                        for c in CONDITIONS)
        lines.append(f'{label:16}{m["epe"]:>8.2f}{m["d1"]:>8.1f}{100 * m["density"]:>8.0f}%'
                     + cells)
    online = summary['node_online_eval']
    lines += [f'node eval_* (raw disparity, {online["frames"]} frames): EPE '
              f'{online["epe_px"]:.2f} px, D1 {online["d1_percent"]:.1f} %',
              f'SGBM {summary["sgbm_ms_per_frame"]:.0f} ms/frame; scored on the '
              f'{fr["out"]} frames the node answered; wall {summary["wall_s"]:.1f} s']
    return '\n'.join(lines)


def warm_up(collector: Collector, bag: pathlib.Path, prefix: str, node: NodeProcess) -> float:
    """Send the bag's first pair once, 1 s before its real stamp, and wait for its disparity.

    torch's first inference is several times slower than the rest; without this the first
    real frames would be dropped as stale for a reason that says nothing about steady state.
    No ground truth is sent, so the node's eval_* figures do not include it. Returns seconds.
    """
    from rclpy.qos import QoSProfile
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, Image

    from thermostereo_ros.bags import ms2_to_bag as m2b
    from thermostereo_ros.bags.reader import iter_raw_cdr

    topics = {m2b.TOPIC_LEFT_INFO: CameraInfo, m2b.TOPIC_RIGHT_INFO: CameraInfo,
              m2b.TOPIC_LEFT_IMAGE: Image, m2b.TOPIC_RIGHT_IMAGE: Image}
    first: Dict[str, Any] = {}
    for topic, _, _, cdr in iter_raw_cdr(bag, list(topics)):
        first.setdefault(topic, deserialize_message(cdr, topics[topic]))
        if len(first) == len(topics):
            break
    stamp = stamp_ns(first[m2b.TOPIC_LEFT_IMAGE].header) - 1_000_000_000
    publishers = {t: collector.replay_node.create_publisher(cls, prefix + t, QoSProfile(depth=1))
                  for t, cls in topics.items()}
    started = time.monotonic()
    try:
        _wait(lambda: all(p.get_subscription_count() > 0 for p in publishers.values()), 10.0,
              node, 'the node to subscribe')
        for topic, msg in first.items():  # camera_info first, as a driver would
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            publishers[topic].publish(msg)
        _wait(lambda: stamp in collector.data.disparity, NODE_READY_TIMEOUT_S, node,
              'the warm-up frame')
    finally:
        for publisher in publishers.values():
            collector.replay_node.destroy_publisher(publisher)
    with collector.lock:
        collector.data = Collected()
    collector.reports.clear_frames()
    return time.monotonic() - started


@dataclass
class OnlineRun:
    """What the online part of the demo produced."""

    sequences: List[Tuple[str, str]]
    bags: List[Tuple[pathlib.Path, str, Tuple[int, int]]]
    frames_per_sequence: int
    published: int
    data: Collected
    timings: Dict[str, float]


def run_online(workdir: pathlib.Path, path: pathlib.Path, max_disparity: int, frames: int,
               rate_hz: float, height: int, width: int, seed: int, threads: int,
               log: Any, record_to: Optional[pathlib.Path] = None) -> OnlineRun:
    """Render, convert, start the node, replay into it and collect; the node always stops."""
    from thermostereo_ros.bags.ms2_to_bag import convert_sequence, TOPIC_LEFT_IMAGE
    from thermostereo_ros.bags.reader import bag_info
    from thermostereo_ros.tools.replay import replay_bag

    started = time.monotonic()
    timings: Dict[str, float] = {}
    prefix = f'/thermostereo_demo_{os.getpid()}'
    node_name = f'thermostereo_demo_{os.getpid()}'
    env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': str(threads)}
    # Reliable inputs, through the node's standard QoS override parameters. With its default
    # best-effort (sensor data) inputs, Fast DDS's default 512 KiB shared-memory segment cannot
    # hold a frame's images and depth (~1.3 MB at 640x256) and most frames were lost between
    # processes even at 2 Hz with an idle subscriber; those losses say nothing about the node.
    # With reliable delivery every remaining drop is the node's own (its one-slot buffer).
    qos = [arg for topic in INPUT_TOPICS for arg in (
        '-p', f'qos_overrides.{prefix}/thermal/{topic}.subscription.reliability:=reliable')]
    ros_args = ['-r', f'__ns:={prefix}/thermal', '-r', f'__node:={node_name}',
                '-p', f'model_path:={path}', '-p', 'device:=cpu', '-p', 'evaluate_against:=true',
                '-p', f'max_disparity:={max_disparity}', *qos]
    node = NodeProcess(node_command(ros_args), workdir / 'node.log', env)
    collector = None
    try:
        # The node imports torch and loads the model while the data is rendered.
        root = workdir / 'ms2'
        sequences = render_dataset(root, frames, height, width, seed, max_disparity)
        timings['render_s'] = time.monotonic() - started
        t0 = time.monotonic()
        bags = []
        for seq, condition in sequences:
            result = convert_sequence(root, seq, workdir / f'bag_{condition}',
                                      with_depth_gt=True, progress=False)
            bags.append((result.bag_path, condition, (result.start_ns, result.end_ns)))
        timings['convert_s'] = time.monotonic() - t0
        log(f'demo: {len(sequences)} sequences ({", ".join(c for _, c in sequences)}) of '
            f'{result.frames} frames, {width}x{height}, in {workdir}')

        # The point cloud kept is the one nearest the middle of the day sequence.
        collector = Collector(prefix, node_name, sum(bags[0][2]) // 2)
        _wait(collector.ready, NODE_READY_TIMEOUT_S, node, 'the node to start')
        timings['node_ready_s'] = time.monotonic() - started
        timings['warm_up_s'] = warm_up(collector, bags[0][0], prefix, node)
        if record_to is not None:
            collector.start_recording(record_to)

        published = 0
        t0 = time.monotonic()
        for bag, condition, _ in bags:
            info = bag_info(bag)
            count = info.topics[TOPIC_LEFT_IMAGE][1]
            # rosbag2's end time is one past the last message.
            span_s = max(info.end_ns - info.start_ns - 1, 0) / 1e9
            bag_hz = (count - 1) / span_s if count > 1 and span_s > 0 else rate_hz
            log(f'demo: replaying the {condition} bag at {rate_hz:g} Hz ({count} frames)')
            replayed = replay_bag(bag, collector.replay_node, rate=rate_hz / bag_hz,
                                  remaps={t: prefix + t for t in info.topics},
                                  wait_for_subscribers=1, start_delay_s=0.5,
                                  log=lambda text: log(f'demo: {text}'))
            published += replayed.published[prefix + TOPIC_LEFT_IMAGE]
            if replayed.interrupted:
                raise KeyboardInterrupt
        replay_end = time.monotonic()

        def settled() -> bool:
            with collector.lock:
                done = len(collector.data.disparity) >= published
                idle = time.monotonic() - max(collector.data.last_output, replay_end)
            return done or idle > OUTPUT_IDLE_S

        _wait(settled, OUTPUT_IDLE_S * 4, node, 'the last outputs')
        final_output = time.monotonic()
        # One more diagnostics message, sent after the last output: the final counters.
        _wait(lambda: collector.reports.last_diagnostics_time() > final_output + 0.05, 5.0, node,
              'the final diagnostics')
        timings['replay_s'] = time.monotonic() - t0
    finally:
        if collector is not None:
            collector.close()
        code = node.stop(NODE_STOP_TIMEOUT_S)
        if code not in (0, None) and sys.exc_info()[0] is None:
            log(f'demo: warning: the node exited with code {code}: {node.last_line()}')
    reports, data = collector.reports, collector.data
    with reports.lock:
        data.statuses, data.evaluations = list(reports.statuses), list(reports.evaluations)
    data.diagnostics = reports.latest_diagnostics() or {}
    return OnlineRun(sequences, bags, result.frames, published, data, timings)


def summarise(online: OnlineRun, out: pathlib.Path, path: pathlib.Path,
              metadata: Dict[str, Any], max_disparity: int, rate_hz: float,
              threads: int) -> Dict[str, Any]:
    """Score the collected outputs, write the strip, PLY and summary.json; return the summary."""
    data = online.data
    received = data.disparity
    latencies = [1e3 * (data.disparity_time[s] - data.input_time[s])
                 for s in received if s in data.input_time]
    # Output rate while frames flowed: per bag, so the pause between the bags does not count.
    intervals, seconds = 0, 0.0
    for _, _, (first, last) in online.bags:
        times = sorted(t for s, t in data.disparity_time.items() if first <= s <= last)
        if len(times) > 1:
            intervals, seconds = intervals + len(times) - 1, seconds + times[-1] - times[0]
    fps = intervals / seconds if seconds > 0 else math.nan
    diag = data.diagnostics

    t0 = time.monotonic()
    metrics, rows, sgbm_ms = evaluate(online.bags, received, max_disparity)
    files = {}
    if rows:
        write_strip(out / 'disparity_strip.png', rows)
        files['strip'] = 'disparity_strip.png'
    points = None
    if data.cloud is not None:
        points = write_ply(out / 'pointcloud.ply', data.cloud)
        files['pointcloud'] = 'pointcloud.ply'
    if data.recorded:
        files['bag'] = OUTPUTS_BAG
    online.timings['evaluate_s'] = time.monotonic() - t0
    node = _node_figures(data, diag, [span for _, _, span in online.bags])
    published = online.published
    return {
        'model': {'path': str(path), 'arch': metadata.get('arch'),
                  'config': metadata.get('config'), 'provenance': metadata.get('provenance')},
        'data': {'sequences': [{'name': s, 'condition': c} for s, c in online.sequences],
                 'frames_per_sequence': online.frames_per_sequence,
                 'max_disparity': max_disparity},
        'rate_hz': rate_hz,
        'node_threads': threads,
        'frames': {'in': published, 'out': len(received),
                   'dropped': published - len(received),
                   'node_pairs_in': node['pairs_in'], 'node_pairs_out': node['pairs_out'],
                   'node_stale': node['stale'],
                   'unpaired': None if node['pairs_in'] is None
                   else published - node['pairs_in'],
                   'lost_output': None if node['pairs_out'] is None
                   else node['pairs_out'] - len(received),
                   'node_bad_input': node['bad_input']},
        'output_fps': fps,
        'latency_ms': percentiles(latencies),
        'node_inference_ms': node['inference_ms'],
        'node_figures_from': node['source'],
        'metrics': metrics,
        'node_online_eval': node['online_eval'],
        'node_diagnostics': diag,
        'bag_messages': data.recorded,
        # Per frame from msg/StereoStatus: how many pairs were published or dropped, by reason.
        'node_status': {'by_outcome': node.get('by_outcome', {}),
                        'valid_fraction_mean': node.get('valid_fraction_mean', math.nan)},
        'sgbm_ms_per_frame': sgbm_ms,
        'pointcloud_vertices': points,
        'pointcloud_stamp_ns': data.cloud_stamp,
        'files': files,
        'timings': online.timings,
    }


def default_node_threads(backend: str, cores: Optional[int] = None) -> int:
    """CPU threads for the demo's node: every core for OpenVINO, one fewer for torch.

    torch's OpenMP workers spin while they wait, and on a 2-core machine spinning against the
    replay and the collector cost far more than the second thread gained. OpenVINO's workers
    do not, and with one thread the node's inference exceeded the demo's 200 ms period
    (docs/history/PERFORMANCE_NOTEBOOK.md).
    """
    cores = cores or os.cpu_count() or 2
    return cores if backend == 'openvino' else max(1, cores - 1)


def run_demo(out: pathlib.Path, frames: int = 60, model_path: Optional[str] = None,
             rate_hz: float = 5.0, keep_workdir: bool = False, height: int = 256,
             width: int = 640, seed: int = 0, node_threads: int = 0,
             dds_profile: str = 'large-shm', log: Any = print) -> Dict[str, Any]:
    """Run the demo end to end; returns the summary (also written to out/summary.json)."""
    started = time.monotonic()
    if frames < len(CONDITIONS):
        raise DemoError(f'--frames must be at least {len(CONDITIONS)}, got {frames}')
    if not rate_hz > 0:
        raise DemoError(f'--rate must be positive, got {rate_hz}')
    path, metadata = resolve_model(model_path)
    max_disparity = int(metadata['config'].get('max_disparity', 192))
    # DDS stays on this machine unless the user chose otherwise (the Makefile does the same).
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    # Before the first participant, in this process and so in the node it starts: with Fast
    # DDS's default 512 KiB shared-memory segment a frame's depth (640 KiB) and the clouds
    # went over UDP loopback, and their reliable repairs bunched pairs into the node: frames
    # dropped and latency more than doubled without the profile (README, DDS).
    dds = apply_profile(dds_profile)
    threads = node_threads or default_node_threads(
        backends.plan('cpu', 'auto', 'fp32', path, cuda_available=False).backend)
    out.mkdir(parents=True, exist_ok=True)
    # A previous run's files must not pass for this run's if this one writes fewer.
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='thermostereo_demo_'))
    try:
        shutil.rmtree(out / OUTPUTS_BAG, ignore_errors=True)
        online = run_online(workdir, path, max_disparity, frames, rate_hz, height, width,
                            seed, threads, log, record_to=out / OUTPUTS_BAG)
        summary = summarise(online, out, path, metadata, max_disparity, rate_hz, threads)
        summary['dds'] = dds
        summary['data'].update(width=width, height=height, seed=seed)
        summary['wall_s'] = time.monotonic() - started
        with open(out / 'summary.json', 'w') as f:
            json.dump(json_safe(summary), f, indent=2)
        return summary
    finally:
        if keep_workdir:
            log(f'demo: kept {workdir}')
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo options."""
    parser.add_argument('--out', default='demo_out', help='output folder (default demo_out)')
    parser.add_argument('--frames', type=int, default=60,
                        help='frames in all, half day and half night (default 60)')
    parser.add_argument('--model-path', default=None,
                        help='ThermoStereoRT .safetensors checkpoint (default: shipped weights)')
    parser.add_argument('--rate', type=float, default=5.0,
                        help='replay rate in frames per second (default 5; lower it if the '
                        'table reports drops on a slow machine)')
    parser.add_argument('--keep-workdir', action='store_true',
                        help='keep the rendered MS2 data, bags and node log')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0, help='render seed')
    parser.add_argument('--node-threads', type=int, default=0,
                        help="the node's CPU threads (default: every core with OpenVINO, "
                             "one fewer with torch)")
    parser.add_argument('--dds-profile', choices=PROFILE_CHOICES, default=PROFILE_CHOICES[0],
                        help='large-shm (default): the shipped Fast DDS profile, a 32 MiB '
                             'shared-memory segment; default: the middleware\'s defaults')


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its table; 1 with one line on a user-facing error."""
    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    out = pathlib.Path(args.out)
    try:
        summary = run_demo(out, frames=args.frames, model_path=args.model_path,
                           rate_hz=args.rate, keep_workdir=args.keep_workdir,
                           height=args.height, width=args.width, seed=args.seed,
                           node_threads=args.node_threads, dds_profile=args.dds_profile,
                           log=log)
    except DemoError as exc:
        print(f'demo: error: {exc}', file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print('demo: interrupted', file=sys.stderr, flush=True)
        return 130
    print(format_table(summary))
    print(f'wrote {", ".join(str(out / f) for f in summary["files"].values())}, '
          f'{out / "summary.json"}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Stand-alone entry point (`python -m thermostereo_ros.tools.demo`)."""
    parser = argparse.ArgumentParser(prog='demo', description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
