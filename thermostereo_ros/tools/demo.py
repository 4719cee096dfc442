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
import time
from typing import Any, Dict, List, Optional, Tuple

from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image

from thermostereo_ros.bags import ms2_to_bag as m2b
from thermostereo_ros.bags.ms2_to_bag import convert_sequence, TOPIC_LEFT_IMAGE
from thermostereo_ros.bags.reader import bag_info, iter_raw_cdr
from thermostereo_ros.data.ms2_writer import write_dataset
from thermostereo_ros.evaluation.report import json_safe
from thermostereo_ros.inference import backends, CheckpointError, load_checkpoint
from thermostereo_ros.inference.engine import resolve_checkpoint
from thermostereo_ros.ros.dds import apply_profile, PROFILE_CHOICES
from thermostereo_ros.ros.stamps import stamp_ns
from thermostereo_ros.tools.demo_collector import Collected, Collector
from thermostereo_ros.tools.demo_common import (CONDITIONS, DemoError, OnlineRun, OUTPUT_FILES,
                                                OUTPUTS_BAG)
from thermostereo_ros.tools.demo_scoring import format_table, summarise
from thermostereo_ros.tools.node_process import node_command, NodeProcess, wait_until
from thermostereo_ros.tools.replay import replay_bag

INPUT_TOPICS = ('left/image_rect', 'right/image_rect', 'left/camera_info', 'right/camera_info',
                'left/depth_gt')
NODE_READY_TIMEOUT_S = 120.0
# After the last input, wait this long without a new output before calling the run over:
# the node works on at most one frame plus one waiting in its slot.
OUTPUT_IDLE_S = 5.0
NODE_STOP_TIMEOUT_S = 15.0


# Input and model ------------------------------------------------------------------------------

def resolve_model(model_path: Optional[str]) -> Tuple[pathlib.Path, Dict[str, Any]]:
    """Return (checkpoint path, metadata); DemoError with one line if it is missing or bad."""
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
    per_sequence = max(1, math.ceil(frames / len(CONDITIONS)))
    splits = write_dataset(str(root), len(CONDITIONS), per_sequence, height, width, seed,
                           CONDITIONS, max_disparity, version=DEMO_RENDERER_VERSION)
    # write_dataset files each condition's first sequence under its test split.
    return [(splits[f'test_{c}'][0], c) for c in CONDITIONS]


# Node subprocess ------------------------------------------------------------------------------

def _wait(predicate: Any, timeout: float, node: NodeProcess, what: str) -> None:
    # Demo errors are one line (`demo: error: ...`): quote only the node's last line.
    wait_until(predicate, timeout, node, what, error=DemoError, poll_s=0.05, tail_lines=1)


def warm_up(collector: Collector, bag: pathlib.Path, prefix: str, node: NodeProcess) -> float:
    """Send the bag's first pair once, 1 s before its real stamp, and wait for its disparity.

    torch's first inference is several times slower than the rest; without this the first
    real frames would be dropped as stale for a reason that says nothing about steady state.
    No ground truth is sent, so the node's eval_* figures do not include it. Returns seconds.
    """
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


def run_online(workdir: pathlib.Path, path: pathlib.Path, max_disparity: int, frames: int,
               rate_hz: float, height: int, width: int, seed: int, threads: int,
               log: Any, record_to: Optional[pathlib.Path] = None) -> OnlineRun:
    """Render, convert, start the node, replay into it and collect; the node always stops."""
    started = time.monotonic()
    timings: Dict[str, float] = {}
    prefix = f'/thermostereo_demo_{os.getpid()}'
    node_name = f'thermostereo_demo_{os.getpid()}'
    env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': str(threads)}
    node = NodeProcess(node_command(_node_args(prefix, node_name, path, max_disparity)),
                       workdir / 'node.log', env)
    collector = None
    try:
        # The node imports torch and loads the model while the data is rendered.
        root = workdir / 'ms2'
        sequences = render_dataset(root, frames, height, width, seed, max_disparity)
        timings['render_s'] = time.monotonic() - started
        t0 = time.monotonic()
        bags, frames_per_sequence = _convert(root, sequences, workdir)
        timings['convert_s'] = time.monotonic() - t0
        log(f'demo: {len(sequences)} sequences ({", ".join(c for _, c in sequences)}) of '
            f'{frames_per_sequence} frames, {width}x{height}, in {workdir}')

        # The point cloud kept is the one nearest the middle of the day sequence.
        collector = Collector(prefix, node_name, sum(bags[0][2]) // 2)
        _wait(collector.ready, NODE_READY_TIMEOUT_S, node, 'the node to start')
        timings['node_ready_s'] = time.monotonic() - started
        timings['warm_up_s'] = warm_up(collector, bags[0][0], prefix, node)
        if record_to is not None:
            collector.start_recording(record_to)

        t0 = time.monotonic()
        published = _replay(collector, bags, prefix, rate_hz, log)
        _wait_settled(collector, node, published, time.monotonic())
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
    return OnlineRun(sequences, bags, frames_per_sequence, published, data, timings)


def _node_args(prefix: str, node_name: str, path: pathlib.Path, max_disparity: int
               ) -> List[str]:
    """Return the node's --ros-args: private names, the model, scoring, reliable inputs."""
    # Reliable inputs, through the node's standard QoS override parameters. With its default
    # best-effort (sensor data) inputs, Fast DDS's default 512 KiB shared-memory segment cannot
    # hold a frame's images and depth (~1.3 MB at 640x256) and most frames were lost between
    # processes even at 2 Hz with an idle subscriber; those losses say nothing about the node.
    # With reliable delivery every remaining drop is the node's own (its one-slot buffer).
    qos = [arg for topic in INPUT_TOPICS for arg in (
        '-p', f'qos_overrides.{prefix}/thermal/{topic}.subscription.reliability:=reliable')]
    return ['-r', f'__ns:={prefix}/thermal', '-r', f'__node:={node_name}',
            '-p', f'model_path:={path}', '-p', 'device:=cpu', '-p', 'evaluate_against:=true',
            '-p', f'max_disparity:={max_disparity}', *qos]


def _convert(root: pathlib.Path, sequences: List[Tuple[str, str]], workdir: pathlib.Path
             ) -> Tuple[List[Tuple[pathlib.Path, str, Tuple[int, int]]], int]:
    """Convert each sequence to a bag with depth GT; (bag, condition, span) and frames."""
    bags, frames = [], 0
    for seq, condition in sequences:
        result = convert_sequence(root, seq, workdir / f'bag_{condition}', with_depth_gt=True,
                                  progress=False)
        bags.append((result.bag_path, condition, (result.start_ns, result.end_ns)))
        frames = result.frames
    return bags, frames


def _replay(collector: Collector, bags: List[Tuple[pathlib.Path, str, Tuple[int, int]]],
            prefix: str, rate_hz: float, log: Any) -> int:
    """Replay every bag into the node at `rate_hz`; return the left images published."""
    published = 0
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
    return published


def _wait_settled(collector: Collector, node: NodeProcess, published: int,
                  replay_end: float) -> None:
    """Wait for the last outputs (or for the node to fall idle), then final diagnostics."""
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
