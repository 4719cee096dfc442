# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Online evaluation: a synthetic bag replayed into the node over DDS, and `thermostereo demo`."""

import json
import os
import queue
import subprocess
import sys
import time

import numpy as np
import pytest

from node_helpers import Harness, tiny_checkpoint

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy')
# ms2-to-bag (which the demo and these bags use) needs the 'tools' extras.
pytest.importorskip('rosbags')
pytest.importorskip('tqdm')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES, HEIGHT, WIDTH, MAX_DISPARITY = 4, 48, 96, 32


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A tiny random-weight checkpoint shared by the tests of this module."""
    return tiny_checkpoint(tmp_path_factory.mktemp('weights'), max_disparity=MAX_DISPARITY)


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    """A night sequence written by the synth writer, converted with depth ground truth."""
    from thermostereo_ros.bags.ms2_to_bag import convert_sequence
    from thermostereo_ros.data.ms2_writer import write_dataset

    root = tmp_path_factory.mktemp('ms2')
    splits = write_dataset(str(root), 1, FRAMES, HEIGHT, WIDTH, seed=3, conditions=['night'],
                           max_disparity=MAX_DISPARITY)
    result = convert_sequence(root, splits['test_night'][0], root / 'bag', with_depth_gt=True,
                              progress=False)
    assert result.frames == result.depth_frames == FRAMES
    return result


def bag_images():
    """A random uint16 pair of the bag's size."""
    rng = np.random.default_rng(0)
    return tuple(rng.integers(0, 2**16, (HEIGHT, WIDTH), dtype=np.uint16) for _ in range(2))


def test_replayed_bag_gives_one_disparity_per_frame_and_eval_diagnostics(bag, checkpoint):
    from diagnostic_msgs.msg import DiagnosticArray
    from stereo_msgs.msg import DisparityImage

    from thermostereo_ros.bags.reader import bag_info
    from thermostereo_ros.tools.replay import replay_bag

    harness = Harness({'model_path': str(checkpoint), 'device': 'cpu',
                       'evaluate_against': True, 'max_disparity': MAX_DISPARITY})
    try:
        disparities = harness.subscribe('disparity', DisparityImage)
        diagnostics: queue.Queue = queue.Queue()
        harness.driver.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.put, 10)
        deadline = time.monotonic() + 10
        while harness.node._outputs['disparity'].get_subscription_count() == 0:
            assert time.monotonic() < deadline, 'disparity subscription not matched'
            time.sleep(0.01)
        # torch's first call is slow (lazy set-up, seconds on a loaded CPU): without this
        # warm-up it overruns the frame period and the one-slot buffer drops frames as stale.
        harness.node._active.engine.infer(*bag_images())
        # /thermal/left/image_rect -> <ns>/left/image_rect, and so on for every topic.
        remaps = {t: harness.namespace + t[len('/thermal'):]
                  for t in bag_info(bag.bag_path).topics}
        # 10 Hz bag at 0.3x: one frame every ~0.33 s, far slower than the tiny network.
        summary = replay_bag(bag.bag_path, harness.driver, rate=0.3, remaps=remaps,
                             wait_for_subscribers=1, start_delay_s=0.2)
        assert summary.published[harness.namespace + '/left/depth_gt'] == FRAMES

        stamps = []
        deadline = time.monotonic() + 10
        while len(stamps) < FRAMES and time.monotonic() < deadline:
            try:
                msg = disparities.get(timeout=0.1)
            except queue.Empty:
                continue
            stamps.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
            assert msg.image.encoding == '32FC1' and msg.image.width == WIDTH
        time.sleep(0.3)  # nothing beyond one output per frame may follow
        while not disparities.empty():
            msg = disparities.get()
            stamps.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
        expected = bag.start_ns + (bag.end_ns - bag.start_ns) * np.arange(FRAMES) // (FRAMES - 1)
        assert stamps == expected.tolist()

        # The node reports its running score against left/depth_gt in /diagnostics. Every
        # frame is scored: ms2-to-bag writes depth_gt after the pair, so the prediction waits
        # for its ground truth (or the ground truth for its prediction, whichever is second).
        from thermostereo_ros.ros.diagnostics import status_name
        values = {}
        deadline = time.monotonic() + 5
        while values.get('pairs_out') != str(FRAMES) or \
                values.get('eval_frames') != str(FRAMES):
            assert time.monotonic() < deadline, f'{FRAMES} frames not all scored: {values}'
            try:
                array = diagnostics.get(timeout=0.2)
            except queue.Empty:
                continue
            for status in array.status:
                if status.name == status_name(harness.node.get_fully_qualified_name()):
                    values = {kv.key: kv.value for kv in status.values}
        assert {'eval_frames', 'eval_epe_px', 'eval_d1_percent'} <= set(values)
        assert float(values['eval_epe_px']) >= 0.0
        assert 0.0 <= float(values['eval_d1_percent']) <= 100.0
        assert values['drops_stale'] == '0'
    finally:
        harness.close()


def _demo(*args, timeout=120):
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    return subprocess.run([sys.executable, '-m', 'thermostereo_ros.cli.main', 'demo', *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_demo_end_to_end_tiny(tmp_path, checkpoint):
    import cv2

    out = tmp_path / 'demo_out'
    proc = _demo('--out', str(out), '--frames', '4', '--model-path', str(checkpoint),
                 '--width', str(WIDTH), '--height', str(HEIGHT), '--rate', '3')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stderr
    for label in ('frames', 'latency', 'dds', 'ThermoStereoRT', 'SGBM'):
        assert label in proc.stdout, proc.stdout

    summary = json.loads((out / 'summary.json').read_text())
    for key in ('model', 'data', 'frames', 'output_fps', 'latency_ms', 'node_inference_ms',
                'metrics', 'node_online_eval', 'node_diagnostics', 'files', 'wall_s'):
        assert key in summary, key
    from thermostereo_ros.ros.dds import PROFILE_VARIABLES, shipped_profile
    if not any(os.environ.get(v) for v in PROFILE_VARIABLES) and \
            os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp').startswith('rmw_fastrtps'):
        # The demo's default: the shipped large-segment profile, for itself and for the node.
        assert str(shipped_profile()) in summary['dds']['dds_profile'], summary['dds']
    frames = summary['frames']
    assert frames['in'] == 4 and frames['out'] >= 1
    assert frames['dropped'] == frames['in'] - frames['out']
    assert [s['condition'] for s in summary['data']['sequences']] == ['day', 'night']
    for method in ('network', 'sgbm'):
        metrics = summary['metrics'][method]
        assert metrics['frames'] == frames['out']
        assert metrics['epe'] >= 0.0 and 0.0 <= metrics['d1'] <= 100.0

    strip = cv2.imread(str(out / 'disparity_strip.png'))
    assert strip is not None and strip.shape[1] == 3 * WIDTH

    data = (out / 'pointcloud.ply').read_bytes()
    head, _, body = data.partition(b'end_header\n')
    header = head.decode('ascii').splitlines()
    assert header[:2] == ['ply', 'format binary_little_endian 1.0']
    count = int(next(ln for ln in header if ln.startswith('element vertex')).split()[-1])
    assert count == summary['pointcloud_vertices'] > 0
    assert [ln.split()[-1] for ln in header if ln.startswith('property')] == \
        ['x', 'y', 'z', 'intensity']
    vertices = np.frombuffer(body, dtype='<f4').reshape(-1, 4)
    assert len(vertices) == count and np.all(np.isfinite(vertices)) and np.all(vertices[:, 2] > 0)

    # The node's outputs as one MCAP bag that rosbags reads back, custom types included (from
    # the definitions the bag embeds, without this package's typestore).
    from thermostereo_ros.ros import status
    if status.AVAILABLE:
        from rosbags.highlevel import AnyReader
        assert summary['files']['bag'] == 'outputs_bag'
        seen = {}
        with AnyReader([out / 'outputs_bag']) as reader:
            for connection, _, raw in reader.messages():
                msg = reader.deserialize(raw, connection.msgtype)
                seen.setdefault(connection.msgtype, []).append(msg)
        disparities = seen['stereo_msgs/msg/DisparityImage']
        assert len(disparities) == frames['out']
        statuses = seen['thermostereo_ros/msg/StereoStatus']
        assert len(statuses) >= frames['out']
        assert {s.drop_reason for s in statuses} <= {'', 'stale'}
        assert len(seen['thermostereo_ros/msg/StereoEvaluation']) == frames['out']


def test_demo_node_threads_leave_a_core_only_to_torch():
    from thermostereo_ros.tools.demo import default_node_threads
    assert default_node_threads('openvino', cores=2) == 2
    assert default_node_threads('torch', cores=2) == 1
    assert default_node_threads('torch', cores=1) == 1


def test_the_console_provenance_cuts_the_init_chain_to_its_path():
    from thermostereo_ros.tools.demo_scoring import provenance_summary
    chain = {'steps': 6000, 'init': {'path': 'a.safetensors', 'digest': 'x',
                                     'provenance': {'steps': 3000, 'init': {'path': 'b'}}}}
    assert provenance_summary(chain) == {'steps': 6000, 'init': 'a.safetensors'}
    assert chain['init']['provenance']['steps'] == 3000  # the summary's copy is untouched
    assert provenance_summary({'steps': 4, 'init': None}) == {'steps': 4, 'init': None}


def test_demo_bad_model_is_one_line(tmp_path):
    missing = tmp_path / 'none.safetensors'
    proc = _demo('--out', str(tmp_path / 'out'), '--model-path', str(missing), timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('demo: error:') and 'none.safetensors' in \
        lines[0], proc.stderr
