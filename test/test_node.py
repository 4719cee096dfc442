# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The thermostereo node end to end over real rclpy and Fast DDS (in-process)."""

import math
import os
import threading
import time

import cv2
import numpy as np
import pytest

from node_helpers import (
    BASELINE, camera_infos, CX_LEFT, CY, CX_RIGHT, drain, FX, get, Harness, HEIGHT,
    OracleEngine, PLANE_PIXEL_DISPARITY, plane_depth, plane_images, q_from_infos,
    stamp_header, tiny_checkpoint, wait_for, WIDTH)
from node_helpers import edited_infos as _with

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402
from stereo_msgs.msg import DisparityImage  # noqa: E402

from thermostereo_ros.ros.conversions import (  # noqa: E402
    image_to_numpy, numpy_to_image, pointcloud_to_numpy)
from thermostereo_ros.ros.diagnostics import status_name  # noqa: E402
from thermostereo_ros.ros.node import INVALID_DISPARITY  # noqa: E402

DOFFS = CX_LEFT - CX_RIGHT
SECOND = 1_000_000_000


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return str(tiny_checkpoint(tmp_path_factory.mktemp('weights')))


@pytest.fixture
def harness_factory():
    made = []

    def make(**kwargs):
        made.append(Harness(**kwargs))
        return made[-1]
    yield make
    for h in made:
        h.close()


def _setup_io(h, outputs=('disparity',)):
    types = {'disparity': DisparityImage, 'points2': PointCloud2, 'depth': Image,
             'confidence': Image}
    boxes = {name: h.subscribe(name, types[name]) for name in outputs}
    for topic, msg_type in (('left/image_rect', Image), ('right/image_rect', Image),
                            ('left/camera_info', CameraInfo), ('right/camera_info', CameraInfo)):
        h.publisher(topic, msg_type)
    h.wait_connected()
    return boxes


def _publish_infos(h, infos=None):
    left, right = infos or camera_infos()
    h.publisher('left/camera_info', CameraInfo).publish(left)
    h.publisher('right/camera_info', CameraInfo).publish(right)

    def arrived(name, sent):
        got = h.node._sync._latest_info[name]
        return repr(got) == repr(sent)  # repr, not ==: NaN in P must equal itself
    wait_for(lambda: arrived('left_info', left) and arrived('right_info', right),
             5.0, 'camera_info not received')


def _publish_pair(h, stamp_ns, left=None, right=None):
    images = plane_images()
    left_msg = left if left is not None else numpy_to_image(
        images[0], stamp_header(stamp_ns, 'left_optical'))
    right_msg = right if right is not None else numpy_to_image(
        images[1], stamp_header(stamp_ns, 'right_optical'))
    h.publisher('left/image_rect', Image).publish(left_msg)
    h.publisher('right/image_rect', Image).publish(right_msg)


def _stamp(msg):
    return msg.header.stamp.sec * SECOND + msg.header.stamp.nanosec


def _latest_diagnostics(box, predicate, timeout=5.0):
    found = {}

    def check():
        for array in drain(box):
            values = {kv.key: kv.value for kv in array.status[0].values}
            if predicate(values):
                found.update(values)
                found['_level'] = array.status[0].level
        return bool(found)
    wait_for(check, timeout, 'diagnostics condition')
    return found


def test_plane_outputs_match_ground_truth(harness_factory):
    """Known plane: DisparityImage fields, depth and points agree with GT and with OpenCV."""
    h = harness_factory(engine_factory=lambda cfg: OracleEngine(max_disparity=32),
                        overrides={'max_disparity': 32})
    boxes = _setup_io(h, ('disparity', 'points2', 'depth', 'confidence'))
    _publish_infos(h)
    stamp = 5 * SECOND + 123
    _publish_pair(h, stamp)
    disparity = get(boxes['disparity'])
    assert _stamp(disparity) == stamp and disparity.header.frame_id == 'left_optical'
    assert disparity.image.encoding == '32FC1'
    assert (disparity.image.height, disparity.image.width) == (HEIGHT, WIDTH)
    assert disparity.f == pytest.approx(FX) and disparity.t == pytest.approx(BASELINE)
    assert disparity.min_disparity == pytest.approx(0.0)
    assert disparity.max_disparity == pytest.approx(32 - DOFFS)
    assert 0.0 < disparity.delta_d <= 1.0
    image = image_to_numpy(disparity.image)
    # Columns left of the disparity cannot be matched inside the right image.
    assert np.all(image[:, :PLANE_PIXEL_DISPARITY] == INVALID_DISPARITY)
    np.testing.assert_allclose(image[:, PLANE_PIXEL_DISPARITY:], PLANE_PIXEL_DISPARITY - DOFFS)
    window = disparity.valid_window
    assert (window.x_offset, window.y_offset, window.width, window.height) == (
        PLANE_PIXEL_DISPARITY, 0, WIDTH - PLANE_PIXEL_DISPARITY, HEIGHT)
    # stereo_msgs convention: Z = f * T / d.
    assert disparity.f * disparity.t / float(image[0, -1]) == pytest.approx(plane_depth())

    depth = image_to_numpy(get(boxes['depth']), allow_non_finite=True)
    np.testing.assert_allclose(depth[:, PLANE_PIXEL_DISPARITY:], plane_depth(), rtol=1e-5)
    assert np.all(np.isnan(depth[:, :PLANE_PIXEL_DISPARITY]))

    cloud = pointcloud_to_numpy(get(boxes['points2']))
    assert cloud.shape == (HEIGHT, WIDTH)
    left_info, right_info = camera_infos()
    raw = np.where(image == INVALID_DISPARITY, np.nan, image + DOFFS).astype(np.float32)
    reference = cv2.reprojectImageTo3D(np.nan_to_num(raw, nan=-1.0),
                                       q_from_infos(left_info, right_info).astype(np.float32))
    valid = np.isfinite(raw)
    ours = np.stack([cloud['x'], cloud['y'], cloud['z']], axis=-1)
    np.testing.assert_allclose(ours[valid], reference[valid], rtol=1e-4, atol=1e-5)
    assert np.all(np.isnan(ours[~valid]))
    confidence = image_to_numpy(get(boxes['confidence']))
    assert confidence.shape == (HEIGHT, WIDTH)


def test_random_weights_points_agree_with_reprojection(harness_factory, checkpoint):
    """The real engine (tiny untrained weights): PointCloud2 equals cv2 reprojection."""
    h = harness_factory(overrides={'model_path': checkpoint, 'max_disparity': 32,
                                   'pointcloud_decimation': 2})
    boxes = _setup_io(h, ('disparity', 'points2'))
    _publish_infos(h)
    _publish_pair(h, 7 * SECOND)
    disparity = get(boxes['disparity'])
    cloud = pointcloud_to_numpy(get(boxes['points2']))
    image = image_to_numpy(disparity.image)
    valid = image != INVALID_DISPARITY
    assert valid.any() and np.all(image[valid] > disparity.min_disparity)
    assert np.all(image[valid] <= disparity.max_disparity)
    rows, cols = np.nonzero(valid)
    window = disparity.valid_window
    assert (window.x_offset, window.y_offset) == (cols.min(), rows.min())
    assert (window.width, window.height) == (cols.max() - cols.min() + 1,
                                             rows.max() - rows.min() + 1)
    q = q_from_infos(*camera_infos()).astype(np.float32)
    reference = cv2.reprojectImageTo3D(np.where(valid, image + DOFFS, -1.0).astype(np.float32),
                                       q)[::2, ::2]
    ours = np.stack([cloud['x'], cloud['y'], cloud['z']], axis=-1)
    keep = valid[::2, ::2] & (reference[..., 2] <= 100.0)
    assert cloud.shape == (HEIGHT // 2, WIDTH // 2)
    np.testing.assert_allclose(ours[keep], reference[keep], rtol=1e-4, atol=1e-5)
    assert np.all(np.isnan(ours[~keep]))
    np.testing.assert_array_equal(cloud['intensity'], plane_images()[0][::2, ::2])


def test_one_output_per_pair_at_low_rate(harness_factory, checkpoint):
    h = harness_factory(overrides={'model_path': checkpoint, 'max_disparity': 32})
    boxes = _setup_io(h)
    _publish_infos(h)
    stamps = [(10 + i) * SECOND for i in range(5)]
    for stamp in stamps:
        _publish_pair(h, stamp)
        assert _stamp(get(boxes['disparity'])) == stamp
    wait_for(lambda: h.node._stats.pairs_out == 5, 2.0, 'five outputs')
    assert drain(boxes['disparity']) == []
    assert h.node._stats.stale == 0


def _bad_cases():
    left, right = plane_images()
    good_left = numpy_to_image(left, stamp_header(0, 'left_optical'))

    def mutate(**changes):
        def build(stamp):
            msg = numpy_to_image(left, stamp_header(stamp, 'left_optical'))
            for key, value in changes.items():
                setattr(msg, key, value)
            return msg, None
        return build

    def float_nan(stamp):
        image = left.astype(np.float32)
        image[3, 4] = np.nan
        return numpy_to_image(image, stamp_header(stamp, 'left_optical')), \
            numpy_to_image(right.astype(np.float32), stamp_header(stamp, 'right_optical'))

    def small_right(stamp):
        return None, numpy_to_image(right[:20, :30].copy(), stamp_header(stamp, 'right_optical'))

    def mono8_right(stamp):
        return None, numpy_to_image((right >> 8).astype(np.uint8),
                                    stamp_header(stamp, 'right_optical'))

    def too_large(stamp):
        big = np.zeros((HEIGHT * 2, WIDTH), np.uint16)
        return numpy_to_image(big, stamp_header(stamp, 'left_optical')), None

    del good_left
    return [
        ('encoding', mutate(encoding='yuv422')),
        ('zero_size', mutate(height=0, width=0, step=0, data=b'')),
        ('big_endian', mutate(is_bigendian=1)),
        ('step', mutate(step=WIDTH * 2 - 2)),
        ('truncated', mutate(data=b'\0' * 100)),
        ('non_finite', float_nan),
        ('size_mismatch', small_right),
        ('encoding_mismatch', mono8_right),
        ('too_large', too_large),
    ]


def _calibration_cases():
    """(reason, infos): the calibrations the node must refuse (issue #13, D3)."""
    good = camera_infos()
    return [
        ('calibration', camera_infos(fx=0.0)),
        ('calibration', camera_infos(baseline=0.0)),
        ('calibration', camera_infos(fx=-FX)),                 # fx < 0 on both sides
        ('calibration', _with(good, 'right', p0=2 * FX)),      # right fx = 2 x left fx
        ('calibration', _with(good, 'right', p0=-FX)),         # right fx < 0
        ('calibration', _with(_with(good, 'left', p5=-FX), 'right', p5=-FX)),  # fy < 0
        ('calibration', _with(good, 'right', p6=CY + 10)),     # not row-aligned
        ('calibration', _with(good, 'right', p3=-FX * BASELINE * 1000)),  # P[3] in mm
        ('camera_info', _with(good, 'left', width=0, height=0)),
        ('camera_info', _with(good, 'right', binning_x=2, binning_y=2)),
        ('frame_id', camera_infos(left_frame='elsewhere')),
    ]


def test_bad_input_is_counted_and_next_good_pair_processed(harness_factory):
    h = harness_factory(engine_factory=lambda cfg: OracleEngine(),
                        overrides={'max_image_pixels': HEIGHT * WIDTH})
    boxes = _setup_io(h)
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    _publish_infos(h)
    stamp = 100 * SECOND
    expected = {}
    for reason, build in _bad_cases():
        stamp += SECOND
        left, right = build(stamp)
        _publish_pair(h, stamp, left, right)
        stamp += SECOND
        _publish_pair(h, stamp)
        assert _stamp(get(boxes['disparity'])) == stamp, reason
        expected[reason] = 1

    # Calibration problems: each is refused with its reason, and the next good pair works.
    cases = _calibration_cases()
    for number, (reason, infos) in enumerate(cases):
        _publish_infos(h, infos)
        stamp += SECOND
        _publish_pair(h, stamp)
        seen = expected.get(reason, 0) + 1
        wait_for(lambda r=reason, n=seen: h.node._stats.bad_input[r] >= n, 5.0,
                 f'case {number}: {reason}')
        expected[reason] = seen
        _publish_infos(h)
        stamp += SECOND
        _publish_pair(h, stamp)
        assert _stamp(get(boxes['disparity'])) == stamp, reason

    # Time going backwards (a looped bag): a new timeline, counted once; nothing is dropped.
    _publish_pair(h, stamp - 10 * SECOND)
    assert _stamp(get(boxes['disparity'])) == stamp - 10 * SECOND
    assert h.node._stats.timeline_restarts == 1
    stamp += SECOND
    _publish_pair(h, stamp)
    assert _stamp(get(boxes['disparity'])) == stamp

    values = _latest_diagnostics(diagnostics, lambda v: all(
        int(v[f'bad_input_{r}']) >= n for r, n in expected.items()))
    for reason, count in expected.items():
        assert int(values[f'bad_input_{reason}']) == count, reason
    assert int(values['drops_bad_input']) == sum(expected.values())
    assert values['device'] == 'cpu' and values['backend'] == 'oracle'
    assert values['inference_latency_p50_ms'] != 'n/a'
    assert h.node.context.ok()


def test_parameter_ranges_rejected_with_reason(harness_factory):
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    node = h.node
    cases = [Parameter('max_disparity', value=1030), Parameter('max_disparity', value=190),
             Parameter('queue_size', value=0), Parameter('device', value='tpu'),
             Parameter('precision', value='int4'), Parameter('backend', value='tvm'),
             Parameter('confidence_threshold', value=1.5), Parameter('min_depth', value=150.0),
             Parameter('pointcloud_decimation', value=0), Parameter('max_image_pixels', value=0),
             Parameter('evaluate_against', value=True)]
    for parameter in cases:
        result = node.set_parameters([parameter])[0]
        assert not result.successful, parameter.name
        assert result.reason, parameter.name
    assert node.get_parameter('max_disparity').value == 192
    assert node.set_parameters([Parameter('confidence_threshold', value=0.5)])[0].successful
    for name in ('max_disparity', 'queue_size', 'min_depth', 'device'):
        descriptor = node.describe_parameter(name)
        assert descriptor.description
        assert descriptor.integer_range or descriptor.floating_point_range or \
            descriptor.additional_constraints


def test_out_of_range_at_start_up_is_refused():
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        from thermostereo_ros.ros.node import ThermoStereoNode
        with pytest.raises(Exception, match='device|max_disparity'):
            ThermoStereoNode(engine_factory=lambda cfg: OracleEngine(), context=context,
                             parameter_overrides=[Parameter('device', value='tpu')])
    finally:
        rclpy.try_shutdown(context=context)


def test_live_max_disparity_change_rebuilds_engine(harness_factory, checkpoint, tmp_path):
    h = harness_factory(overrides={'model_path': checkpoint, 'max_disparity': 32})
    boxes = _setup_io(h)
    _publish_infos(h)
    _publish_pair(h, 20 * SECOND)
    assert get(boxes['disparity']).max_disparity == pytest.approx(32 - DOFFS)
    engine = h.node._active.engine
    assert h.node.set_parameters([Parameter('max_disparity', value=16)])[0].successful
    wait_for(lambda: h.node._active.engine is not engine, 10.0, 'engine rebuilt')
    _publish_pair(h, 21 * SECOND)
    msg = get(boxes['disparity'])
    assert _stamp(msg) == 21 * SECOND
    assert msg.max_disparity == pytest.approx(16 - DOFFS)
    image = image_to_numpy(msg.image)
    assert np.all((image == INVALID_DISPARITY) | (image <= 16 - DOFFS))
    # What can be checked at once is refused at once, and the parameter keeps its value.
    engine = h.node._active.engine
    result = h.node.set_parameters([Parameter('model_path', value='/nonexistent.safetensors')])
    assert not result[0].successful and 'does not exist' in result[0].reason
    result = h.node.set_parameters([Parameter('model_path', value=str(tmp_path))])
    assert not result[0].successful and 'is a directory' in result[0].reason
    assert h.node.get_parameter('model_path').value == str(checkpoint)
    # A file that only fails when loaded (a valid but empty safetensors): the old model keeps
    # running, diagnostics say so, and the parameter is set back to the model in use.
    empty = tmp_path / 'empty.safetensors'
    empty.write_bytes((2).to_bytes(8, 'little') + b'{}')
    assert h.node.set_parameters([Parameter('model_path', value=str(empty))])[0].successful
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    wait_for(lambda: h.node._active.reload_failures == 1, 10.0, 'reload failure counted')
    assert h.node._active.engine is engine and str(empty) in h.node._active.last_reload_error
    wait_for(lambda: h.node.get_parameter('model_path').value == str(checkpoint), 5.0,
             'model_path set back')
    _publish_pair(h, 22 * SECOND)
    assert _stamp(get(boxes['disparity'])) == 22 * SECOND
    # Diagnostics report the engine that runs: back to OK after the failed attempt, which
    # stays in a counter and the last error (it used to stay ERROR for as long as it ran).
    values = _latest_diagnostics(diagnostics, lambda v: v.get('reload_failures') == '1',
                                 timeout=8.0)
    assert str(empty) in values['last_reload_error']

    def ok_again():
        for array in drain(diagnostics):
            status = array.status[0]
            values = {kv.key: kv.value for kv in status.values}
            if values.get('reload_failures') == '1' and status.level == DiagnosticStatus.OK:
                return True
        return False
    _publish_pair(h, 23 * SECOND)
    wait_for(ok_again, 8.0, 'diagnostics OK again after the reverted reload')
    # And a later change still works (it used to fail with the earlier error).
    assert h.node.set_parameters([Parameter('max_disparity', value=24)])[0].successful
    wait_for(lambda: h.node._active.config['max_disparity'] == 24, 10.0, 'rebuilt at 24')
    assert h.node._active.reload_failures == 1


def test_nothing_computed_without_subscribers(harness_factory):
    calls = []

    class Counting(OracleEngine):
        def infer(self, left, right):
            calls.append(1)
            return super().infer(left, right)

    h = harness_factory(engine_factory=lambda cfg: Counting(),
                        overrides={'publish_depth': False})
    _setup_io(h, ())
    h.subscribe('depth', Image)  # switched off by parameter: still nothing to compute
    _publish_infos(h)
    _publish_pair(h, 30 * SECOND)
    wait_for(lambda: h.node._stats.skipped_no_subscribers == 1, 5.0, 'pair skipped')
    assert calls == []


def test_slow_inference_drops_stale_pairs_and_stops_fast(harness_factory):
    h = harness_factory(engine_factory=lambda cfg: OracleEngine(delay=0.3))
    boxes = _setup_io(h)
    _publish_infos(h)
    for i in range(6):
        # Paced well below the 0.3 s inference but within the input queues' depth of 5.
        time.sleep(0.03)
        _publish_pair(h, (40 + i) * SECOND)
    wait_for(lambda: h.node._stats.pairs_in == 6, 5.0, 'callbacks kept up')
    wait_for(lambda: h.node._stats.pairs_out + h.node._stats.stale == 6, 5.0, 'settled')
    assert h.node._stats.stale >= 1
    stamps = []
    while not stamps or stamps[-1] != 45 * SECOND:  # the newest pair always wins
        stamps.append(_stamp(get(boxes['disparity'], timeout=5.0)))
    assert len(stamps) == h.node._stats.pairs_out < 6
    for i in range(8):
        _publish_pair(h, (50 + i) * SECOND)
    started = time.monotonic()
    assert h.node.stop_worker(timeout=2.0)
    assert time.monotonic() - started < 2.0


def _evaluating(harness_factory):
    """A node with evaluate_against on, connected: (harness, diagnostics box, gt publisher)."""
    h = harness_factory(engine_factory=lambda cfg: OracleEngine(),
                        overrides={'evaluate_against': True})
    _setup_io(h)
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    gt = h.publisher('left/depth_gt', Image)
    wait_for(lambda: gt.get_subscription_count() > 0, 10.0, 'gt matched')
    _publish_infos(h)
    return h, diagnostics, gt


def test_evaluate_against_ground_truth_depth(harness_factory):
    h, diagnostics, gt = _evaluating(harness_factory)
    depth = np.full((HEIGHT, WIDTH), plane_depth(), np.float32)
    depth[:5] = np.nan  # missing ground truth
    gt.publish(numpy_to_image(depth, stamp_header(60 * SECOND, 'left_optical')))
    wait_for(lambda: h.node._scorer.has_ground_truth(60 * SECOND), 5.0, 'gt received')
    _publish_pair(h, 60 * SECOND)
    values = _latest_diagnostics(diagnostics, lambda v: v.get('eval_frames') == '1')
    assert float(values['eval_epe_px']) == pytest.approx(0.0, abs=1e-4)
    assert float(values['eval_d1_percent']) == 0.0
    assert math.isfinite(float(values['eval_epe_px']))


def test_stage_latencies_in_diagnostics(harness_factory):
    """Queue wait, conversion, post-processing and publish p50/p95 appear once a frame is out."""
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    boxes = _setup_io(h, ('disparity', 'points2', 'depth', 'confidence'))
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    _publish_infos(h)
    _publish_pair(h, 70 * SECOND)
    for box in boxes.values():
        get(box)
    values = _latest_diagnostics(diagnostics, lambda v: v.get('pairs_out') == '1')
    for stage in ('queue_wait', 'conversion', 'postprocess', 'publish', 'pipeline_latency',
                  'inference_latency', 'end_to_end_latency'):
        p50, p95 = float(values[f'{stage}_p50_ms']), float(values[f'{stage}_p95_ms'])
        assert 0.0 <= p50 <= p95 and math.isfinite(p95), stage


def _wait_status(box, predicate, timeout=10.0, node=None):
    """Return the first DiagnosticStatus of the node for which predicate(status) holds.

    With `node`, only that node's status counts: /diagnostics is shared by every node on the
    domain, a stray one from another process included.
    """
    found = []
    name = node and status_name(node.get_fully_qualified_name())

    def check():
        for array in drain(box):
            found.extend(s for s in array.status
                         if predicate(s) and (name is None or s.name == name))
        return bool(found)
    wait_for(check, timeout, 'diagnostics status')
    return found[0]


def _feed(h, seconds, make_pair, rate_hz=5.0):
    """Publish make_pair(i) -> (left, right) at rate_hz for `seconds`."""
    started, i = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        left, right = make_pair(i)
        if left is not None:
            h.publisher('left/image_rect', Image).publish(left)
        if right is not None:
            h.publisher('right/image_rect', Image).publish(right)
        i += 1
        time.sleep(1.0 / rate_hz)


def _pair_messages(stamp, left_stamp_offset=0):
    left, right = plane_images()
    return (numpy_to_image(left, stamp_header(stamp + left_stamp_offset, 'left_optical')),
            numpy_to_image(right, stamp_header(stamp, 'right_optical')))


def test_stall_without_a_right_camera_info_is_reported_with_its_cause(harness_factory):
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    _setup_io(h)
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    left_info, _ = camera_infos()
    h.publisher('left/camera_info', CameraInfo).publish(left_info)  # a wrong remap on the right
    feeder = threading.Thread(target=_feed, args=(h, 5.0, lambda i: _pair_messages(
        (200 + i) * SECOND)))
    feeder.start()
    status = _wait_status(diagnostics, lambda s: s.level != b'\x00', timeout=10.0,
                          node=h.node)
    feeder.join()
    assert status.level == b'\x01'
    assert 'camera_info never received on' in status.message
    assert h.node._subs['right_info'].topic_name in status.message


def test_stamps_that_never_match_are_reported_with_the_offset(harness_factory):
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    _setup_io(h)
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    _publish_infos(h)
    feeder = threading.Thread(target=_feed, args=(h, 5.0, lambda i: _pair_messages(
        (300 + i) * SECOND, left_stamp_offset=SECOND // 2)))
    feeder.start()
    status = _wait_status(diagnostics, lambda s: s.level != b'\x00', timeout=10.0,
                          node=h.node)
    feeder.join()
    assert 'stamps never match' in status.message and '+500.0 ms' in status.message


def test_a_live_sync_change_keeps_the_calibration(harness_factory):
    """A driver that publishes camera_info once must keep working after queue_size changes."""
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    boxes = _setup_io(h)
    _publish_infos(h)
    _publish_pair(h, 400 * SECOND)
    assert _stamp(get(boxes['disparity'])) == 400 * SECOND
    for name, value in (('queue_size', 10), ('approximate_sync', True),
                        ('cache_camera_info', True)):
        assert h.node.set_parameters([Parameter(name, value=value)])[0].successful
    for i in range(1, 4):
        _publish_pair(h, (400 + i) * SECOND)
        assert _stamp(get(boxes['disparity'])) == (400 + i) * SECOND


@pytest.mark.parametrize('kind', ['zeros', 'saturated', 'shutter_noise'])
def test_uniform_frames_come_out_all_invalid_and_counted(harness_factory, kind):
    """A shutter (FFC) frame or a lens cap must not become a wall 0.37 m ahead (D2)."""
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    boxes = _setup_io(h, ('disparity', 'points2'))
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    _publish_infos(h)
    rng = np.random.default_rng(0)
    image = {'zeros': np.zeros((HEIGHT, WIDTH), np.uint16),
             'saturated': np.full((HEIGHT, WIDTH), 65535, np.uint16),
             'shutter_noise': (7000 + rng.integers(-2, 3, (HEIGHT, WIDTH))).astype(np.uint16),
             }[kind]
    stamp = 500 * SECOND
    _publish_pair(h, stamp, numpy_to_image(image, stamp_header(stamp, 'left_optical')),
                  numpy_to_image(image, stamp_header(stamp, 'right_optical')))
    msg = get(boxes['disparity'])
    assert np.all(image_to_numpy(msg.image) == INVALID_DISPARITY)
    points = pointcloud_to_numpy(get(boxes['points2']))
    assert not np.isfinite(points['z']).any()  # no point at all: nothing is in front
    values = _latest_diagnostics(diagnostics, lambda v: v.get('low_contrast_frames') == '1')
    assert values['pairs_out'] == '1'


def test_diagnostics_name_the_node_by_its_namespace(harness_factory):
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    name = h.node.get_fully_qualified_name()
    assert name.count('/') == 2  # /<namespace>/thermostereo
    status = _wait_status(diagnostics, lambda s: s.hardware_id == name)
    assert status.name == f'{name}: stereo depth'


def test_diagnostics_keep_coming_with_sim_time_and_no_clock(harness_factory):
    # A bag replayed without /clock under use_sim_time: ROS time stands at 0, yet the 1 Hz
    # diagnostics must come (they run on the wall clock) and name the missing clock.
    h = harness_factory(overrides={'use_sim_time': True},
                        engine_factory=lambda cfg: OracleEngine())
    assert h.node.get_clock().now().nanoseconds == 0
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    values = _latest_diagnostics(diagnostics, lambda v: 'clock' in v, timeout=8.0)
    assert 'no /clock' in values['clock'] and '--clock' in values['clock']
    # Outputs still carry the input stamps.
    boxes = _setup_io(h)
    _publish_infos(h)
    _publish_pair(h, 700 * SECOND)
    assert _stamp(get(boxes['disparity'])) == 700 * SECOND


def test_stereo_image_proc_parameters_get_a_warning_naming_ours(harness_factory):
    # disparity_range in a params file (or -p) used to be ignored without a word.
    h = harness_factory(overrides={'disparity_range': 128, 'P1': 200, 'my_own': 1},
                        engine_factory=lambda cfg: OracleEngine())
    lines = h.node.ignored_parameters
    assert len(lines) == 2     # not my_own: a name stereo_image_proc does not have either
    assert "'disparity_range'" in lines[1] and 'max_disparity' in lines[1]
    assert "'P1'" in lines[0] and 'learned its matching' in lines[0]


def test_most_images_unpaired_is_a_warning_naming_the_offset(harness_factory):
    # Free-running cameras whose offset drifts over 0-32 ms, with a 10 ms tolerance: most
    # frames find no partner while some pair. The status must not stay OK; it names the
    # offset and a tolerance that would pair them.
    h = harness_factory(overrides={'approximate_sync': True,
                                   'approximate_sync_tolerance_seconds': 0.01},
                        engine_factory=lambda cfg: OracleEngine())
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    _setup_io(h)
    _publish_infos(h)
    left, right = plane_images()
    found = []

    def warned():
        for array in drain(diagnostics):
            status = array.status[0]
            values = {kv.key: kv.value for kv in status.values}
            if 'unpaired' in values:
                found.append((status.level, values['unpaired']))
        return bool(found)
    deadline = time.monotonic() + 10.0
    stamp = 900 * SECOND
    frame = 0
    while not warned() and time.monotonic() < deadline:
        stamp += SECOND // 20
        offset = (frame % 5) * 8_000_000        # 0, 8, 16, 24, 32 ms
        frame += 1
        _publish_pair(h, stamp, numpy_to_image(left, stamp_header(stamp, 'left_optical')),
                      numpy_to_image(right, stamp_header(stamp + offset, 'right_optical')))
        time.sleep(0.05)
    assert found, 'no unpaired warning'
    level, text = found[0]
    assert level == DiagnosticStatus.WARN and 'found no partner' in text
    wanted = float(text.split('approximate_sync_tolerance_seconds ')[1].split()[0])
    assert 0.032 <= wanted <= 0.05     # covers the largest offset seen, and not much more


def test_incompatible_qos_is_named_in_diagnostics(harness_factory):
    # The subscription made reliable through qos_overrides, the camera publishing best effort:
    # DDS never connects them. Diagnostics must say why, not only "no input".
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    namespace = f'/qos{os.getpid()}'
    h = harness_factory(namespace=namespace, engine_factory=lambda cfg: OracleEngine(),
                        overrides={f'qos_overrides.{namespace}/left/image_rect.subscription.'
                                   'reliability': 'reliable'})
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    publisher = h.driver.create_publisher(
        Image, 'left/image_rect', QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
    assert publisher is not None
    key = f'incompatible_qos {namespace}/left/image_rect'
    values = _latest_diagnostics(diagnostics, lambda v: key in v, timeout=8.0)
    assert values[key].startswith('RELIABILITY')


def test_a_latched_camera_info_published_before_the_node_starts_is_used(harness_factory):
    # A static-calibration driver: camera_info once, transient local, before the node exists.
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    namespace = f'/latched{os.getpid()}'
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        driver = rclpy.create_node('calibration', namespace=namespace, context=context)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        left_info, right_info = camera_infos()
        driver.create_publisher(CameraInfo, 'left/camera_info', latched).publish(left_info)
        driver.create_publisher(CameraInfo, 'right/camera_info', latched).publish(right_info)
        time.sleep(0.3)
        h = harness_factory(namespace=namespace, engine_factory=lambda cfg: OracleEngine())
        boxes = _setup_io(h)
        wait_for(lambda: h.node._sync.has_camera_info('left_info')
                 and h.node._sync.has_camera_info('right_info'), 10.0,
                 'latched camera_info received')
        _publish_pair(h, 950 * SECOND)
        assert _stamp(get(boxes['disparity'])) == 950 * SECOND
    finally:
        rclpy.try_shutdown(context=context)


def test_mono16_and_16uc1_images_pair(harness_factory):
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    boxes = _setup_io(h)
    _publish_infos(h)
    left, right = plane_images()
    stamp = 600 * SECOND
    _publish_pair(h, stamp, numpy_to_image(left, stamp_header(stamp, 'left_optical'), 'mono16'),
                  numpy_to_image(right, stamp_header(stamp, 'right_optical'), '16UC1'))
    assert _stamp(get(boxes['disparity'])) == stamp


def test_a_malformed_ros_argument_is_one_line(tmp_path):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, '-m', 'thermostereo_ros.ros.main', '--ros-args',
                             '-r', '__ns:=/bad.name'], capture_output=True, text=True,
                            timeout=60)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, output
    ours = [line for line in output.splitlines() if line.startswith('[thermostereo] error:')]
    assert 'Traceback' not in output and len(ours) == 1, output
    assert '__ns:=/bad.name' in ours[0] and '.c:' not in ours[0], output


def test_a_wrong_size_or_millimetre_depth_gt_is_handled(harness_factory):
    """16UC1 ground truth is millimetres (REP 118); a wrong size is counted and named."""
    h, diagnostics, gt = _evaluating(harness_factory)
    gt.publish(numpy_to_image(np.zeros((HEIGHT // 2, WIDTH), np.float32),
                              stamp_header(70 * SECOND, 'left_optical')))
    _publish_pair(h, 70 * SECOND)
    wait_for(lambda: h.node._stats.bad_input['depth_gt'] == 1, 5.0, 'wrong size counted')
    assert 'depth_gt' in h.node._stats.last_bad and f'{WIDTH}x{HEIGHT // 2}' in \
        h.node._stats.last_bad
    millimetres = np.full((HEIGHT, WIDTH), round(plane_depth() * 1000), np.uint16)
    gt.publish(numpy_to_image(millimetres, stamp_header(71 * SECOND, 'left_optical'), '16UC1'))
    _publish_pair(h, 71 * SECOND)
    values = _latest_diagnostics(diagnostics, lambda v: v.get('eval_frames') == '1')
    assert float(values['eval_epe_px']) < 0.05  # mm rounding only; metres read as mm: >> 1


def test_a_rejected_message_does_not_move_the_last_seen_stamp(harness_factory):
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    boxes = _setup_io(h)
    _publish_infos(h)
    _publish_pair(h, 80 * SECOND)
    assert _stamp(get(boxes['disparity'])) == 80 * SECOND
    bad = numpy_to_image(plane_images()[0], stamp_header(90 * SECOND, 'left_optical'))
    bad.encoding = 'yuv422'
    h.publisher('left/image_rect', Image).publish(bad)
    wait_for(lambda: h.node._stats.bad_input['encoding'] == 1, 5.0, 'bad counted')
    _publish_pair(h, 81 * SECOND)  # earlier than the rejected one: still a good pair
    assert _stamp(get(boxes['disparity'])) == 81 * SECOND
    assert h.node._stats.timeline_restarts == 0


def test_the_engine_is_warmed_up_for_the_announced_size(harness_factory):
    """The first camera_info triggers a warm-up, so the first frame is not the slow one."""
    calls = []

    class Warmable(OracleEngine):
        def warmup(self, height, width):
            calls.append((height, width))

    h = harness_factory(engine_factory=lambda cfg: Warmable())
    boxes = _setup_io(h)
    _publish_infos(h)
    wait_for(lambda: calls == [(HEIGHT, WIDTH)], 5.0, 'warm-up at the camera_info size')
    _publish_infos(h)  # the same size again: no second warm-up
    _publish_pair(h, 90 * SECOND)
    assert _stamp(get(boxes['disparity'])) == 90 * SECOND
    assert calls == [(HEIGHT, WIDTH)]


def _status_types():
    from thermostereo_ros.ros import status
    if not status.AVAILABLE:
        pytest.skip('thermostereo_ros.msg is not built (make setup runs '
                    'scripts/build_interfaces.sh; colcon build builds it)')
    return status.StereoStatus, status.StereoEvaluation


def test_every_pair_gets_a_typed_status(harness_factory):
    StereoStatus, _ = _status_types()
    h = harness_factory(engine_factory=lambda cfg: OracleEngine())
    statuses = h.subscribe('thermostereo/status', StereoStatus)
    boxes = _setup_io(h)
    wait_for(lambda: h.node._pub_status.get_subscription_count() > 0, 10.0, 'status matched')
    _publish_infos(h)
    _publish_pair(h, 700 * SECOND)
    disparity = get(boxes['disparity'])
    assert _stamp(disparity) == 700 * SECOND
    msg = get(statuses)
    # Field semantics: the status describes the disparity that was published.
    published = image_to_numpy(disparity.image)
    assert msg.valid_fraction == pytest.approx(np.mean(published != INVALID_DISPARITY))
    assert _stamp(msg) == 700 * SECOND and msg.drop_reason == ''
    assert msg.header.frame_id == 'left_optical' and msg.backend == 'oracle'
    assert msg.valid_fraction > 0.5 and msg.mean_confidence == pytest.approx(1.0)
    assert msg.min_depth == pytest.approx(plane_depth(), rel=1e-3)
    assert msg.max_depth == pytest.approx(plane_depth(), rel=1e-3)
    assert msg.pairs_out == 1 and msg.inference_ms >= 0.0 and msg.end_to_end_ms > 0.0
    assert len(msg.model_id) == 16 and int(msg.model_id, 16) >= 0
    # A refused pair gets one too, with the reason.
    _publish_infos(h, camera_infos(fx=-FX))
    _publish_pair(h, 701 * SECOND)
    msg = get(statuses)
    assert _stamp(msg) == 701 * SECOND and msg.drop_reason == 'calibration'
    assert msg.drops_bad_input == 1


def test_every_scored_frame_gets_a_typed_evaluation(harness_factory):
    _, StereoEvaluation = _status_types()
    h = harness_factory(engine_factory=lambda cfg: OracleEngine(),
                        overrides={'evaluate_against': True})
    evaluations = h.subscribe('thermostereo/evaluation', StereoEvaluation)
    _setup_io(h)
    gt = h.publisher('left/depth_gt', Image)
    wait_for(lambda: gt.get_subscription_count() > 0 and
             h.node._pub_evaluation.get_subscription_count() > 0, 10.0, 'matched')
    _publish_infos(h)
    _publish_pair(h, 710 * SECOND)  # the prediction first, its ground truth after it
    depth = np.full((HEIGHT, WIDTH), plane_depth(), np.float32)
    gt.publish(numpy_to_image(depth, stamp_header(710 * SECOND, 'left_optical')))
    msg = get(evaluations)
    assert _stamp(msg) == 710 * SECOND
    # The same frame scored by evaluation/metrics.py (the oracle's adjusted disparity).
    from thermostereo_ros.evaluation.metrics import disparity_metrics
    adjusted = np.full((HEIGHT, WIDTH), PLANE_PIXEL_DISPARITY - (CX_LEFT - CX_RIGHT), np.float32)
    gt = np.full((HEIGHT, WIDTH), FX * BASELINE / plane_depth(), np.float32)
    expected = disparity_metrics(adjusted, gt, 32.0)
    assert msg.epe_px == pytest.approx(expected['epe'], abs=1e-4)
    assert msg.d1_percent == pytest.approx(expected['d1'], abs=1e-3)
    assert msg.epe_px == pytest.approx(0.0, abs=1e-4) and msg.d1_percent == 0.0
    assert msg.pixels > 0 and msg.bad1_percent == 0.0


def test_live_switch_to_openvino_publishes_the_same_disparity(harness_factory, checkpoint):
    pytest.importorskip('openvino')
    pytest.importorskip('onnx')
    # fp32 explicitly: on a CPU with native bf16, openvino's auto is bf16.
    h = harness_factory(overrides={'model_path': checkpoint, 'max_disparity': 32,
                                   'precision': 'fp32'})
    boxes = _setup_io(h)
    _publish_infos(h)
    _publish_pair(h, 30 * SECOND)
    torch_out = image_to_numpy(get(boxes['disparity']).image)
    engine = h.node._active.engine
    assert h.node.set_parameters([Parameter('backend', value='openvino')])[0].successful
    wait_for(lambda: h.node._active.engine is not engine, 20.0, 'engine rebuilt')
    assert h.node._active.describe()['backend'] == 'openvino'
    _publish_pair(h, 31 * SECOND)
    msg = get(boxes['disparity'])
    assert _stamp(msg) == 31 * SECOND
    np.testing.assert_allclose(image_to_numpy(msg.image), torch_out, rtol=0, atol=1e-3)


@pytest.mark.parametrize('export_cache', [True, False])
def test_a_restart_warms_up_for_the_size_this_node_ran_at_last(
        harness_factory, checkpoint, tmp_path, monkeypatch, export_cache):
    from thermostereo_ros.inference import backends

    if backends.plan('cpu', 'auto', 'fp32', cuda_available=False).backend == 'torch':
        pytest.skip('backend auto is torch here, which has no export cache')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    overrides = {'model_path': checkpoint, 'max_disparity': 32, 'export_cache': export_cache}
    namespace = f'/warm{os.getpid()}'
    # The node's previous run saw this camera; another node then ran at a larger size.
    first = harness_factory(overrides=overrides, namespace=namespace)
    first_boxes = _setup_io(first)
    _publish_infos(first)
    _publish_pair(first, 40 * SECOND)
    assert _stamp(get(first_boxes['disparity'])) == 40 * SECOND
    first.close()
    other = harness_factory(overrides=overrides, namespace=namespace + '_other')
    assert other.node._active.warm_size == (0, 0)    # never ran: nothing to remember
    other.node._active.new_size((HEIGHT + 8, WIDTH), 10 ** 7)
    other.node._warm_up()
    other.close()
    # A restart of the first node warms up for its own camera, not the other node's.
    h = harness_factory(overrides=overrides, namespace=namespace)
    assert h.node._active.warm_size == ((HEIGHT, WIDTH) if export_cache else (0, 0))
    boxes = _setup_io(h)
    _publish_infos(h)
    _publish_pair(h, 41 * SECOND)
    assert _stamp(get(boxes['disparity'])) == 41 * SECOND


def test_warmup_size_warms_the_engine_before_the_first_pair(harness_factory, checkpoint):
    h = harness_factory(overrides={'model_path': checkpoint, 'max_disparity': 32,
                                   'warmup_size': f'{WIDTH}x{HEIGHT}'})
    assert h.node._active.warm_size == (HEIGHT, WIDTH)  # done in the constructor
    boxes = _setup_io(h)
    _publish_infos(h)
    _publish_pair(h, 40 * SECOND)
    assert _stamp(get(boxes['disparity'])) == 40 * SECOND


class _BoxOracle(OracleEngine):
    """Exact disparities of a plane (4 px) with a nearer box (12 px), seen from both views."""

    def __init__(self) -> None:
        super().__init__(max_disparity=32)
        from thermostereo_ros.data.augment import left_to_right_disparity
        self.left = np.full((HEIGHT, WIDTH), 4.0, np.float32)
        self.left[:, 30:50] = 12.0
        self.right = left_to_right_disparity(self.left)

    def infer_left_right(self, left, right):
        result = self.infer(left, right)
        result.disparity = self.left.copy()
        return result, self.right.copy()


def test_lr_check_invalidates_what_one_view_cannot_see(harness_factory):
    """Over DDS: the plane left of the box, hidden from the right camera, comes out invalid."""
    StereoStatus, _ = _status_types()
    h = harness_factory(engine_factory=lambda cfg: _BoxOracle(),
                        overrides={'max_disparity': 32, 'lr_check': True})
    statuses = h.subscribe('thermostereo/status', StereoStatus)
    diagnostics = h.subscribe('/diagnostics', DiagnosticArray)
    boxes = _setup_io(h)
    wait_for(lambda: h.node._pub_status.get_subscription_count() > 0, 10.0, 'status matched')
    _publish_infos(h)
    _publish_pair(h, 720 * SECOND)
    published = image_to_numpy(get(boxes['disparity']).image)
    valid = published != INVALID_DISPARITY
    # Columns 22-29 see the plane, whose match in the right view lies behind the box;
    # columns 0-3 match outside the right image (invalid with or without the check).
    assert not valid[:, 22:30].any() and not valid[:, :4].any()
    assert valid[:, 4:22].all() and valid[:, 30:].all()
    msg = get(statuses)
    assert msg.lr_kept_fraction == pytest.approx((76 - 8) / 76)
    values = _latest_diagnostics(diagnostics, lambda v: v.get('lr_check_kept_share') not in
                                 (None, 'n/a'))
    assert float(values['lr_check_kept_share']) == pytest.approx((76 - 8) / 76, abs=1e-3)
    # Without the check, infer() alone: its 12 px plane is valid from column 12 on.
    h.node.set_parameters([Parameter('lr_check', value=False)])
    _publish_pair(h, 721 * SECOND)
    published = image_to_numpy(get(boxes['disparity']).image)
    assert (published[:, 12:] != INVALID_DISPARITY).all()
    assert math.isnan(get(statuses).lr_kept_fraction)


def test_a_new_output_is_one_spec_and_its_builder(harness_factory, monkeypatch):
    """What CONTRIBUTING.md promises: an OutputSpec in OUTPUTS is a published topic."""
    from thermostereo_ros.ros import node as node_module
    from thermostereo_ros.ros import outputs

    def valid_mask(products, header, config):
        return numpy_to_image(products.valid.astype(np.uint8) * 255, header, 'mono8')

    extended = outputs.OUTPUTS + (outputs.OutputSpec('valid_mask', Image, valid_mask),)
    monkeypatch.setattr(outputs, 'OUTPUTS', extended)
    monkeypatch.setattr(node_module, 'OUTPUTS', extended)
    h = harness_factory(engine_factory=lambda cfg: OracleEngine(max_disparity=32),
                        overrides={'max_disparity': 32})
    masks = h.subscribe('valid_mask', Image)
    boxes = _setup_io(h)
    _publish_infos(h)
    _publish_pair(h, 730 * SECOND)
    published = image_to_numpy(get(boxes['disparity']).image)
    mask = image_to_numpy(get(masks))
    assert np.array_equal(mask == 255, published != INVALID_DISPARITY)


def test_every_output_switch_is_a_bool_parameter():
    from thermostereo_ros.ros.outputs import OUTPUTS
    from thermostereo_ros.ros.parameters import DEFAULTS
    switches = [spec.switch for spec in OUTPUTS if spec.switch is not None]
    assert switches and all(isinstance(DEFAULTS[name], bool) for name in switches)
    assert [spec.topic for spec in OUTPUTS][0] == 'disparity'  # cheapest first
