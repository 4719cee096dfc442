# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Reliability campaign over real rclpy and Fast DDS: bad input, soak, shutdown, checkpoints.

Every figure these tests measure is written to bench_out/reliability-<distro>.json;
`make reliability-report` renders docs/RELIABILITY.md from it (the suite never rewrites a
tracked file). Timings are recorded, and only the few the brief bounds (shutdown 2 s, timer
gap 3 s) are asserted, with margins that hold on a loaded two-core machine.
"""

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from node_helpers import (
    BASELINE, camera_infos, CY, edited_infos, FX, get, Harness, HEIGHT, plane_images,
    stamp_header, tiny_checkpoint, wait_for, WIDTH)
from reliability_helpers import padded_rows, raw_image, Recorder, vm_rss_mb

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from stereo_msgs.msg import DisparityImage  # noqa: E402

from thermostereo_ros.ros.conversions import image_to_numpy, numpy_to_image  # noqa: E402
from thermostereo_ros.ros.node import BAD_INPUT_REASONS, INVALID_DISPARITY  # noqa: E402

SECOND = 1_000_000_000
STEP_NS = 10_000_000  # 10 ms between campaign stamps: any increasing sequence would do
QUEUE_SIZE = 5  # the node's default queue_size, which the flood case relies on
FLOOD = 300

# Soak geometry: small images and the tiny model keep the node's own rate high.
SOAK_HEIGHT, SOAK_WIDTH = 64, 160
SOAK_PAIRS = 3000
# Pairs per second offered in the soak: well above what the worker infers (~30-90 Hz here, so
# it is never idle and the latest-wins slot is always contended), yet within what the node's
# callbacks take in, so the DDS readers (sensor-data QoS, best effort, depth 5) do not
# silently discard images before the node can count them. Back to back, the publisher reached
# ~12 kHz and >90 % of images were lost inside DDS, invisible to any counter.
SOAK_RATE_HZ = 300.0
SOAK_WARMUP_S = 4.0
SOAK_MAX_S = 40.0
RSS_GROWTH_LIMIT_MB = 50.0
TIMER_GAP_LIMIT_S = 3.0
SHUTDOWN_LIMIT_S = 2.0


@pytest.fixture(scope='module')
def recorder():
    rec = Recorder()
    yield rec
    rec.write()


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return str(tiny_checkpoint(tmp_path_factory.mktemp('reliability_weights')))


# Malformed-input campaign -----------------------------------------------------------------


class Campaign:
    """One in-process node (tiny real model) and a driver, shared by every campaign case."""

    def __init__(self, checkpoint: str) -> None:
        self.h = Harness(overrides={'model_path': checkpoint, 'max_disparity': 32,
                                    'device': 'cpu', 'queue_size': QUEUE_SIZE})
        self.node = self.h.node
        self.left, self.right = plane_images()
        self.disparity = self.h.subscribe('disparity', DisparityImage)
        self.diagnostics = self.h.subscribe('/diagnostics', DiagnosticArray)
        for topic, msg_type in (('left/image_rect', Image), ('right/image_rect', Image),
                                ('left/camera_info', CameraInfo),
                                ('right/camera_info', CameraInfo)):
            self.h.publisher(topic, msg_type)
        self.h.wait_connected()
        self.stamp = 1000 * SECOND
        self.totals = {reason: 0 for reason in BAD_INPUT_REASONS}
        self.before = self.snapshot()
        self.infos(camera_infos())

    def next_stamp(self) -> int:
        self.stamp += STEP_NS
        return self.stamp

    def image(self, side: str, stamp: int, array=None, encoding=None, frame=None):
        data = (self.left if side == 'left' else self.right) if array is None else array
        return numpy_to_image(data, stamp_header(stamp, frame if frame is not None
                                                 else f'{side}_optical'), encoding)

    def send(self, side: str, msg) -> None:
        self.h.publisher(f'{side}/image_rect', Image).publish(msg)

    def pair(self, stamp: int, left=None, right=None, right_first: bool = False) -> None:
        left = left if left is not None else self.image('left', stamp)
        right = right if right is not None else self.image('right', stamp)
        for side, msg in ((('right', right), ('left', left)) if right_first
                          else (('left', left), ('right', right))):
            self.send(side, msg)

    def infos(self, infos) -> None:
        """Publish a left/right camera_info pair and wait until the node holds exactly them."""
        left, right = infos
        self.h.publisher('left/camera_info', CameraInfo).publish(left)
        self.h.publisher('right/camera_info', CameraInfo).publish(right)

        def held() -> bool:
            # repr, not ==: a NaN in P must still compare equal to itself.
            latest = self.node._sync._latest_info
            return repr(latest['left_info']) == repr(left) and \
                repr(latest['right_info']) == repr(right)
        wait_for(held, 5.0, 'camera_info not received')

    def snapshot(self) -> dict:
        stats = self.node._stats
        with stats.lock:
            values = {'bad': dict(stats.bad_input), 'pairs_in': stats.pairs_in,
                      'pairs_out': stats.pairs_out, 'stale': stats.stale,
                      'errors': stats.inference_errors,
                      'timeline_restarts': stats.timeline_restarts}
        values['unsynchronised'] = self.node._sync.dropped
        return values

    def bad_since_start(self, reason: str) -> int:
        return self.snapshot()['bad'][reason] - self.before['bad'][reason]

    def wait_bad(self, expected: dict) -> None:
        wait_for(lambda: all(self.bad_since_start(r) >= n for r, n in expected.items()),
                 10.0, f'rejection not counted: {expected}')

    def expect_disparity(self, stamp: int, timeout: float = 10.0):
        """Return the DisparityImage for `stamp`, skipping any earlier outputs."""
        deadline = time.monotonic() + timeout
        while True:
            msg = get(self.disparity, max(0.1, deadline - time.monotonic()))
            got = msg.header.stamp.sec * SECOND + msg.header.stamp.nanosec
            if got == stamp:
                return msg
            assert got < stamp, f'output for {got} while waiting for {stamp}'

    def alive(self) -> bool:
        return (self.node.context.ok() and self.node._worker._thread.is_alive()
                and self.h._spin.is_alive())

    def close(self) -> None:
        self.h.close()


@pytest.fixture(scope='module')
def campaign(checkpoint):
    c = Campaign(checkpoint)
    yield c
    c.close()


CASES = {}


def case(name: str, kind: str, reasons=None):
    """Register a case: 'rejected' (expected counters), 'accepted', or 'unpaired'."""
    def register(fn):
        CASES[name] = (kind, dict(reasons or {}), fn)
        return fn
    return register


def _left_with(c: Campaign, **fields) -> None:
    stamp = c.next_stamp()
    msg = c.image('left', stamp)
    for key, value in fields.items():
        setattr(msg, key, value)
    c.pair(stamp, left=msg)


def _with_infos(c: Campaign, infos, reasons: dict) -> None:
    # The pair must be judged against the bad calibration, so the good one comes back only
    # once the rejection is counted.
    c.infos(infos)
    c.pair(c.next_stamp())
    c.wait_bad(reasons)
    c.infos(camera_infos())


def _accepted_pair(c: Campaign, left, right, stamp: int):
    c.pair(stamp, left=left, right=right)
    return c.expect_disparity(stamp)


@case('unsupported_encoding', 'rejected', {'encoding': 1})
def _unsupported_encoding(c):
    _left_with(c, encoding='yuv422')


@case('empty_encoding', 'rejected', {'encoding': 1})
def _empty_encoding(c):
    _left_with(c, encoding='')


@case('left_right_size_mismatch', 'rejected', {'size_mismatch': 1})
def _size_mismatch(c):
    stamp = c.next_stamp()
    c.pair(stamp, right=c.image('right', stamp, array=c.right[:24, :40].copy()))


@case('left_right_encoding_mismatch', 'rejected', {'encoding_mismatch': 1})
def _encoding_mismatch(c):
    stamp = c.next_stamp()
    c.pair(stamp, right=c.image('right', stamp, array=(c.right >> 8).astype(np.uint8)))


@case('step_too_small', 'rejected', {'step': 1})
def _step_too_small(c):
    _left_with(c, step=WIDTH * 2 - 2)


@case('step_not_a_multiple_of_the_element', 'rejected', {'step': 1})
def _step_odd_mono16(c):
    _left_with(c, step=WIDTH * 2 + 1, data=bytes((WIDTH * 2 + 1) * HEIGHT))


@case('step_and_data_length_disagree', 'rejected', {'step': 1})
def _data_too_long(c):
    _left_with(c, data=c.left.tobytes() + bytes(WIDTH * 2))


@case('truncated_data', 'rejected', {'truncated': 1})
def _truncated(c):
    _left_with(c, data=c.left.tobytes()[:HEIGHT * WIDTH])


@case('empty_data_with_nonzero_size', 'rejected', {'truncated': 1})
def _empty_data(c):
    _left_with(c, data=b'')


@case('zero_width', 'rejected', {'zero_size': 1})
def _zero_width(c):
    _left_with(c, width=0)


@case('zero_height', 'rejected', {'zero_size': 1})
def _zero_height(c):
    _left_with(c, height=0)


@case('big_endian_mono16', 'rejected', {'big_endian': 1})
def _big_endian(c):
    _left_with(c, is_bigendian=1)


def _float_pair(c, value, side):
    stamp = c.next_stamp()
    left = c.left.astype(np.float32)
    right = c.right.astype(np.float32)
    (left if side == 'left' else right)[5, 7] = value
    c.pair(stamp, left=c.image('left', stamp, array=left),
           right=c.image('right', stamp, array=right))


@case('nan_in_32fc1', 'rejected', {'non_finite': 1})
def _nan(c):
    _float_pair(c, np.nan, 'left')


@case('positive_inf_in_32fc1', 'rejected', {'non_finite': 1})
def _pos_inf(c):
    _float_pair(c, np.inf, 'left')


@case('negative_inf_in_32fc1_right', 'rejected', {'non_finite': 1})
def _neg_inf(c):
    _float_pair(c, -np.inf, 'right')


@case('absurd_size_beyond_max_image_pixels', 'rejected', {'too_large': 1})
def _absurd(c):
    # The header claims 100000 x 100000 pixels; the data is only the real image.
    _left_with(c, width=100_000, height=100_000, step=200_000)


@case('uint32_max_dimensions', 'rejected', {'too_large': 1})
def _uint32_max(c):
    _left_with(c, width=2**32 - 1, height=2**32 - 1, step=2**32 - 1)


@case('bgr8_wrong_step', 'rejected', {'step': 1})
def _bgr8_wrong_step(c):
    stamp = c.next_stamp()
    step = WIDTH * 3 - 1
    left = raw_image(stamp_header(stamp, 'left_optical'), 'bgr8', HEIGHT, WIDTH, step,
                     bytes(step * HEIGHT))
    c.pair(stamp, left=left)


@case('camera_info_zero_fx', 'rejected', {'calibration': 1})
def _info_zero_fx(c):
    _with_infos(c, camera_infos(fx=0.0), {'calibration': 1})


@case('camera_info_zero_fy', 'rejected', {'calibration': 1})
def _info_zero_fy(c):
    left, right = camera_infos()
    p = list(left.p)
    p[5] = 0.0
    left.p = p
    _with_infos(c, (left, right), {'calibration': 1})


@case('camera_info_zero_baseline', 'rejected', {'calibration': 1})
def _info_zero_baseline(c):
    _with_infos(c, camera_infos(baseline=0.0), {'calibration': 1})


@case('camera_info_negative_baseline', 'rejected', {'calibration': 1})
def _info_negative_baseline(c):
    _with_infos(c, camera_infos(baseline=-0.25), {'calibration': 1})


@case('camera_info_nan_in_p', 'rejected', {'calibration': 1})
def _info_nan(c):
    left, right = camera_infos()
    p = list(right.p)
    p[2] = float('nan')
    right.p = p
    _with_infos(c, (left, right), {'calibration': 1})


def _edited(side: str, **fields):
    """The test calibration with `fields` set on one side; pN edits P[N]."""
    return edited_infos(camera_infos(), side, **fields)


# Calibrations that are not a rectified pair (issue #13, D3): each was accepted before, with
# depth silently wrong (NaN, flipped, halved or an empty cloud).
for _name, _infos in (
        ('camera_info_negative_fx_both', camera_infos(fx=-FX)),
        ('camera_info_right_fx_doubled', _edited('right', p0=2 * FX)),
        ('camera_info_right_fx_negative', _edited('right', p0=-FX)),
        ('camera_info_fy_negative', [_edited('left', p5=-FX)[0], _edited('right', p5=-FX)[1]]),
        ('camera_info_not_row_aligned', _edited('right', p6=CY + 10)),
        ('camera_info_baseline_in_millimetres', _edited('right', p3=-FX * BASELINE * 1000))):
    case(_name, 'rejected', {'calibration': 1})(
        lambda c, infos=_infos: _with_infos(c, infos, {'calibration': 1}))
for _name, _infos in (('camera_info_zero_size', _edited('left', width=0, height=0)),
                      ('camera_info_binning', _edited('right', binning_x=2, binning_y=2))):
    case(_name, 'rejected', {'camera_info': 1})(
        lambda c, infos=_infos: _with_infos(c, infos, {'camera_info': 1}))


def _uniform_case(c, value):
    stamp = c.next_stamp()
    flat = np.full((HEIGHT, WIDTH), value, np.uint16)
    msg = _accepted_pair(c, c.image('left', stamp, flat), c.image('right', stamp, flat), stamp)
    # A shutter frame or a lens cap: published, and every pixel invalid (no phantom wall).
    assert np.all(image_to_numpy(msg.image) == INVALID_DISPARITY)


@case('uniform_frame_zeros', 'accepted')
def _uniform_zeros(c):
    _uniform_case(c, 0)


@case('uniform_frame_saturated', 'accepted')
def _uniform_saturated(c):
    _uniform_case(c, 65535)


@case('camera_info_size_disagrees_with_image', 'rejected', {'size_mismatch': 1})
def _info_size(c):
    left, right = camera_infos()
    left.height, left.width = HEIGHT * 2, WIDTH * 2
    _with_infos(c, (left, right), {'size_mismatch': 1})


@case('image_frame_id_differs_from_camera_info', 'rejected', {'frame_id': 1})
def _frame_id(c):
    stamp = c.next_stamp()
    c.pair(stamp, left=c.image('left', stamp, frame='somewhere_else'))


def _restarted(c, stamp: int) -> dict:
    """Send a pair whose stamps jumped back: a new timeline, counted once, processed."""
    before = c.snapshot()['timeline_restarts']
    c.pair(stamp)
    c.expect_disparity(stamp)
    assert c.snapshot()['timeline_restarts'] == before + 1
    return {'timeline_restarts': 1}


@case('timestamps_backwards', 'accepted')
def _backwards(c):
    return _restarted(c, c.stamp - 5 * SECOND)


@case('timeline_restart_bag_loop', 'accepted')
def _bag_loop(c):
    # A bag played again from its start: the node follows the new timeline at once, drops
    # nothing, and does not wait for the old one's end.
    base = c.stamp - 60 * SECOND
    details = _restarted(c, base)
    for k in (1, 2, 3):
        stamp = base + k * STEP_NS
        c.pair(stamp)
        c.expect_disparity(stamp)
    return details


@case('far_future_stamp_then_normal', 'accepted')
def _future_glitch(c):
    # One pair stamped a day ahead (a clock glitch) is valid and processed; the normal stamps
    # that follow are a jump back: a new timeline, and processed.
    future = c.stamp + 86400 * SECOND
    c.pair(future)
    c.expect_disparity(future)
    return _restarted(c, c.next_stamp())


@case('flood_left_only', 'unpaired')
def _flood(c):
    # Bursts no deeper than the subscriptions' history (sensor-data QoS keeps 5), each
    # waited for, so DDS itself loses nothing and every drop is the node's, hence countable.
    before = c.snapshot()['unsynchronised']
    stamps = [c.next_stamp() for _ in range(FLOOD)]
    for start in range(0, FLOOD, QUEUE_SIZE):
        for stamp in stamps[start:start + QUEUE_SIZE]:
            c.send('left', c.image('left', stamp))
        last = stamps[min(start + QUEUE_SIZE, FLOOD) - 1]
        wait_for(lambda s=last: c.node._stamps.last.get('left_image') == s, 5.0, 'flood')
    pending = c.node._sync.pending()
    assert pending['left_image'] == QUEUE_SIZE and pending['right_image'] == 0
    assert c.snapshot()['unsynchronised'] - before == FLOOD - QUEUE_SIZE
    return {'flood_images': FLOOD, 'queued_after_flood': pending['left_image'],
            'unsynchronised_drops_counted': FLOOD - QUEUE_SIZE}


@case('duplicate_stamps', 'accepted')
def _duplicates(c):
    # The same pair twice: stamps do not go backwards, so both are valid input. Whatever the
    # node makes of the second (processed again or superseded), it must be accounted for.
    before = c.snapshot()
    stamp = c.next_stamp()
    c.pair(stamp)
    c.expect_disparity(stamp)
    c.pair(stamp)
    wait_for(lambda: c.snapshot()['pairs_in'] - before['pairs_in'] == 2, 5.0, 'second pair')
    wait_for(lambda: (c.snapshot()['pairs_out'] + c.snapshot()['stale']
                      - before['pairs_out'] - before['stale']) == 2, 5.0, 'both accounted')
    return {'pairs_in': 2, 'pairs_out': c.snapshot()['pairs_out'] - before['pairs_out']}


@case('right_before_left', 'accepted')
def _right_first(c):
    stamp = c.next_stamp()
    c.pair(stamp, right_first=True)
    c.expect_disparity(stamp)


@case('camera_info_after_images', 'accepted')
def _info_late(c):
    # As after start-up: no calibration yet (a live parameter change no longer forgets it,
    # so the test clears it), and the next pair arrives before any camera_info.
    with c.node._sync._lock:
        c.node._sync._latest_info = {'left_info': None, 'right_info': None}
    stamp = c.next_stamp()
    c.pair(stamp)
    wait_for(lambda: c.node._sync.pending()['right_image'] == 1, 5.0, 'images queued')
    c.infos(camera_infos())
    c.expect_disparity(stamp)


@case('camera_info_new_baseline_mid_stream', 'accepted')
def _new_baseline(c):
    c.infos(camera_infos(baseline=0.5))
    stamp = c.next_stamp()
    c.pair(stamp)
    assert c.expect_disparity(stamp).t == pytest.approx(0.5)
    c.infos(camera_infos())
    stamp = c.next_stamp()
    c.pair(stamp)
    assert c.expect_disparity(stamp).t == pytest.approx(0.25)


@case('mono8_odd_step_padding', 'accepted')
def _mono8_padding(c):
    stamp = c.next_stamp()
    step = WIDTH + 1  # an odd, padded row length: legal for 1-byte pixels
    msgs = [raw_image(stamp_header(stamp, f'{side}_optical'), 'mono8', HEIGHT, WIDTH, step,
                      padded_rows((array >> 8).astype(np.uint8), step))
            for side, array in (('left', c.left), ('right', c.right))]
    _accepted_pair(c, msgs[0], msgs[1], stamp)


def _colour_pair(c, encoding):
    stamp = c.next_stamp()
    msgs = []
    for side, array in (('left', c.left), ('right', c.right)):
        grey = (array >> 8).astype(np.uint8)
        colour = np.stack([grey, grey // 2, 255 - grey], axis=-1)
        msgs.append(raw_image(stamp_header(stamp, f'{side}_optical'), encoding, HEIGHT, WIDTH,
                              WIDTH * 3, colour.tobytes()))
    _accepted_pair(c, msgs[0], msgs[1], stamp)


@case('bgr8_pair', 'accepted')
def _bgr8(c):
    _colour_pair(c, 'bgr8')


@case('rgb8_pair', 'accepted')
def _rgb8(c):
    _colour_pair(c, 'rgb8')


@case('16UC1_pair', 'accepted')
def _16uc1(c):
    stamp = c.next_stamp()
    _accepted_pair(c, c.image('left', stamp, encoding='16UC1'),
                   c.image('right', stamp, encoding='16UC1'), stamp)


@case('32fc1_negative_values', 'accepted')
def _negative_float(c):
    stamp = c.next_stamp()
    left = c.left.astype(np.float32) - 40000.0
    right = c.right.astype(np.float32) - 40000.0
    assert (left < 0).any()
    _accepted_pair(c, c.image('left', stamp, array=left), c.image('right', stamp, array=right),
                   stamp)


@case('big_endian_flag_on_mono8', 'accepted')
def _big_endian_mono8(c):
    # Byte order means nothing for 1-byte pixels, so the flag must not cost the frame.
    stamp = c.next_stamp()
    msgs = []
    for side, array in (('left', c.left), ('right', c.right)):
        msg = c.image(side, stamp, array=(array >> 8).astype(np.uint8))
        msg.is_bigendian = 1
        msgs.append(msg)
    _accepted_pair(c, msgs[0], msgs[1], stamp)


@case('camera_info_k_all_zeros', 'accepted')
def _k_zeros(c):
    # Rectified images are described by P; a driver that leaves K empty is still usable.
    left, right = camera_infos()
    left.k = [0.0] * 9
    right.k = [0.0] * 9
    c.infos((left, right))
    stamp = c.next_stamp()
    c.pair(stamp)
    c.expect_disparity(stamp)
    c.infos(camera_infos())


@case('empty_frame_id', 'accepted')
def _empty_frame(c):
    stamp = c.next_stamp()
    _accepted_pair(c, c.image('left', stamp, frame=''), c.image('right', stamp, frame=''),
                   stamp)


@case('approximate_sync_jittered_stamps', 'accepted')
def _approximate(c):
    # Unsynchronised cameras: right stamps 3 ms off the left, paired by approximate_sync.
    for name, value in (('approximate_sync', True), ('approximate_sync_tolerance_seconds', 0.005)):
        assert c.node.set_parameters([Parameter(name, value=value)])[0].successful
    try:
        c.infos(camera_infos())  # a rebuilt synchroniser starts without calibration
        for _ in range(3):
            stamp = c.next_stamp()
            c.pair(stamp, right=c.image('right', stamp + 3_000_000))
            c.expect_disparity(stamp)
    finally:
        assert c.node.set_parameters([Parameter('approximate_sync', value=False)])[0].successful
        c.infos(camera_infos())


@pytest.mark.parametrize('name', list(CASES))
def test_malformed_input_campaign(campaign, recorder, name):
    """One bad (or odd but valid) input; the node survives, counts it, and goes on working."""
    c = campaign
    kind, reasons, run = CASES[name]
    entry = {'case': name, 'kind': kind, 'expected': reasons, 'survived': False}
    recorder.data['cases'].append(entry)
    c.before = c.snapshot()
    details = run(c)
    if reasons:
        c.wait_bad(reasons)
    # After every case, a good pair must still come out as a DisparityImage.
    stamp = c.next_stamp()
    c.pair(stamp)
    c.expect_disparity(stamp)
    after = c.snapshot()
    counted = {r: after['bad'][r] - c.before['bad'][r] for r in BAD_INPUT_REASONS
               if after['bad'][r] != c.before['bad'][r]}
    entry.update(counted=counted, details=details or {})
    assert counted == reasons
    assert after['errors'] == c.before['errors'], 'inference raised'
    assert c.alive()
    for reason, count in counted.items():
        c.totals[reason] += count
    entry['survived'] = True


def test_campaign_diagnostics_report_every_rejection(campaign, recorder):
    """/diagnostics carries each per-reason count the campaign caused, and the drop total."""
    c = campaign
    while not c.diagnostics.empty():
        c.diagnostics.get()  # reports from mid-campaign may show a pair still in flight
    found = {}

    def check() -> bool:
        while not c.diagnostics.empty():
            values = {kv.key: kv.value for kv in c.diagnostics.get().status[0].values}
            # Nothing is sent now, so the next reports must show every accepted pair
            # published or counted stale, and every rejection under its own reason.
            if _accounted(values) and all(int(values[f'bad_input_{r}']) == n
                                          for r, n in c.totals.items()):
                found.clear()
                found.update(values)
        return bool(found)
    wait_for(check, 5.0, f'diagnostics never showed {c.totals} with all pairs accounted')
    assert int(found['drops_bad_input']) == sum(c.totals.values())
    recorder.data['campaign'] = {
        'cases_run': len(recorder.data['cases']),
        'cases_survived': sum(e['survived'] for e in recorder.data['cases']),
        'diagnostics': {k: found[k] for k in sorted(found) if k.startswith(
            ('bad_input_', 'drops_', 'pairs_', 'inference_errors'))},
    }


def test_validation_fuzz_raises_only_input_error():
    """Random Image headers and calibrations: only the counted error types, never others.

    An exception of any other type escaping a subscription callback would end the executor's
    spin, i.e. the node; the campaign above cannot try every combination, this can.
    """
    import random

    from thermostereo_ros.geometry import StereoCamera
    from thermostereo_ros.ros.conversions import image_to_numpy, InputError
    rng = random.Random(0)
    encodings = ['mono8', 'mono16', '16UC1', '8UC1', '32FC1', 'bgr8', 'rgb8', 'yuv422', '']
    sizes = [0, 1, 3, 7, 80, 2**16, 2**32 - 1]
    reasons = set()
    for _ in range(3000):
        msg = Image(encoding=rng.choice(encodings), is_bigendian=rng.choice([0, 1]),
                    height=rng.choice(sizes + [rng.randrange(100)]),
                    width=rng.choice(sizes + [rng.randrange(100)]))
        msg.step = rng.choice([0, msg.width, msg.width * 2, msg.width * 3 + 1, msg.width * 4,
                               rng.randrange(500), 2**32 - 1]) % 2**32
        length = msg.step * msg.height
        msg.data = bytes(rng.choice([0, 1, length if length < 10**5 else 9,
                                     rng.randrange(2000)]))
        try:
            image_to_numpy(msg, max_pixels=8388608)
        except InputError as exc:
            reasons.add(exc.reason)
    assert reasons <= set(BAD_INPUT_REASONS)
    specials = [0.0, -0.0, 1.0, -1.0, 1e-308, 1e308, float('nan'), float('inf')]
    for _ in range(3000):
        p_left = [rng.choice(specials + [rng.uniform(-100, 100)]) for _ in range(12)]
        p_right = [rng.choice(specials + [rng.uniform(-100, 100)]) for _ in range(12)]
        try:
            StereoCamera.from_projection(p_left, p_right, [0.0] * 9)
        except ValueError:
            pass  # what the node counts as bad_input_camera_info


# Soak and shutdown (the node as a separate process) ----------------------------------------


class SoakNode:
    """The node in a subprocess, plus a driver node in this process that feeds and watches it."""

    def __init__(self, checkpoint: str) -> None:
        from rclpy.executors import SingleThreadedExecutor

        # Remapping /diagnostics keeps this node's reports apart from the campaign node's.
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'thermostereo_ros.ros.main', '--ros-args',
             '-p', f'model_path:={checkpoint}', '-p', 'device:=cpu', '-p', 'max_disparity:=32',
             '-r', '__ns:=/soak', '-r', '/diagnostics:=/soak/diagnostics'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, 'PYTHONUNBUFFERED': '1'})
        self.lines = []
        # A reader thread keeps the pipe drained, so node logging can never block the node.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.driver = rclpy.create_node('soak_driver', namespace='/soak', context=self.context)
        self.pub_left = self.driver.create_publisher(Image, 'left/image_rect', 10)
        self.pub_right = self.driver.create_publisher(Image, 'right/image_rect', 10)
        self.pub_left_info = self.driver.create_publisher(CameraInfo, 'left/camera_info', 10)
        self.pub_right_info = self.driver.create_publisher(CameraInfo, 'right/camera_info', 10)
        self.disparity_count = 0
        self.diagnostics = []  # (arrival monotonic time, values)
        self.driver.create_subscription(DisparityImage, 'disparity', self._on_disparity, 10)
        self.driver.create_subscription(DiagnosticArray, '/soak/diagnostics',
                                        self._on_diagnostics, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.driver)
        self._spin = threading.Thread(target=self._spin_forever, daemon=True)
        self._spin.start()

        rng = np.random.default_rng(0)
        left = rng.integers(20000, 40000, (SOAK_HEIGHT, SOAK_WIDTH), dtype=np.uint16)
        self.left, self.right = left, np.roll(left, -8, axis=1)
        self.infos = camera_infos()
        for info in self.infos:
            info.height, info.width = SOAK_HEIGHT, SOAK_WIDTH
        self.stamp = 10 * SECOND
        self.sent = 0

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    def _spin_forever(self) -> None:
        from rclpy.executors import ExternalShutdownException
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def _on_disparity(self, msg) -> None:
        self.disparity_count += 1

    def _on_diagnostics(self, msg) -> None:
        values = {kv.key: kv.value for kv in msg.status[0].values}
        self.diagnostics.append((time.monotonic(), values))

    def wait_ready(self) -> None:
        wait_for(lambda: any('waiting for' in line for line in self.lines), 60.0,
                 'node did not start: ' + '\n'.join(self.lines))
        pubs = (self.pub_left, self.pub_right, self.pub_left_info, self.pub_right_info)
        wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs), 20.0, 'inputs')
        wait_for(lambda: self.diagnostics, 20.0, 'no diagnostics from the node')
        self.send_infos()
        # The first pair is answered only once the node's disparity publisher has matched us.
        started = self.disparity_count
        deadline = time.monotonic() + 20.0
        while self.disparity_count == started:
            assert time.monotonic() < deadline, 'no disparity from the node'
            self.send_infos()
            self.send_pair()
            time.sleep(0.1)

    def send_infos(self) -> None:
        self.pub_left_info.publish(self.infos[0])
        self.pub_right_info.publish(self.infos[1])

    def send_pair(self) -> None:
        self.stamp += STEP_NS
        header_l = stamp_header(self.stamp, 'left_optical')
        header_r = stamp_header(self.stamp, 'right_optical')
        self.pub_left.publish(numpy_to_image(self.left, header_l))
        self.pub_right.publish(numpy_to_image(self.right, header_r))
        self.sent += 1

    def flood(self, stop: threading.Event, rate_hz: float = 0.0) -> None:
        """Publish pairs at `rate_hz` (0: back to back) until `stop` is set."""
        started, count = time.monotonic(), 0
        while not stop.is_set():
            if self.sent % 100 == 0:
                self.send_infos()  # now and then, as drivers do; cached, so harmless
            self.send_pair()
            count += 1
            if rate_hz:
                # Paced against the start, not the previous pair, so the rate does not drift.
                delay = started + count / rate_hz - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def rss_mb(self) -> float:
        return vm_rss_mb(self.proc.pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.driver.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.executor.shutdown(timeout_sec=2.0)
        self._spin.join(2.0)


@pytest.fixture(scope='module')
def soak_node(checkpoint):
    node = SoakNode(checkpoint)
    try:
        node.wait_ready()
        yield node
    finally:
        node.close()


def _accounted(values: dict) -> bool:
    return int(values['pairs_in']) == int(values['pairs_out']) + int(values['drops_stale']) + \
        int(values['inference_errors']) + int(values['skipped_no_subscribers'])


def test_soak_bounded_memory_live_timer_and_counted_drops(soak_node, recorder):
    """Thousands of pairs back to back: RSS flat, diagnostics timer ticking, drops accounted."""
    n = soak_node
    stop = threading.Event()
    start_sent, start_out = n.sent, n.disparity_count
    started = time.monotonic()
    feeder = threading.Thread(target=n.flood, args=(stop, SOAK_RATE_HZ), daemon=True)
    feeder.start()
    try:
        time.sleep(SOAK_WARMUP_S)
        rss_warm = n.rss_mb()
        warm_sent = n.sent
        rss_peak = rss_warm
        while n.sent - start_sent < SOAK_PAIRS + (warm_sent - start_sent) or \
                time.monotonic() - started < 2 * SOAK_WARMUP_S:
            assert time.monotonic() - started < SOAK_MAX_S, \
                f'only {n.sent - start_sent} pairs sent in {SOAK_MAX_S} s'
            assert n.proc.poll() is None, '\n'.join(n.lines[-20:])
            rss_peak = max(rss_peak, n.rss_mb())
            time.sleep(0.2)
    finally:
        stop.set()
        feeder.join(5.0)
    flood_s = time.monotonic() - started
    rss_end = n.rss_mb()
    sent = n.sent - start_sent
    # Settle: the last report after the flood must show every accepted pair accounted for.
    flood_end = time.monotonic()
    wait_for(lambda: any(t > flood_end + 1.0 and _accounted(v) for t, v in n.diagnostics),
             10.0, 'accounting identity never held after the flood')
    final = [v for t, v in n.diagnostics if t > flood_end + 1.0 and _accounted(v)][-1]
    window = [t for t, _ in n.diagnostics if started <= t <= flood_end + 1.0]
    gaps = np.diff([started, *window, flood_end])
    max_gap = float(gaps.max())
    received = n.disparity_count - start_out
    # Images that never reached the node's callbacks (lost inside DDS): every image that did
    # reach them is in a pair, an unsynchronised drop, or still queued (at most 2 x 5).
    reached = 2 * int(final['pairs_in']) + int(final['drops_unsynchronised'])
    lost_in_transport = max(0, 2 * n.sent - reached)

    figures = {
        'image_size': f'{SOAK_WIDTH}x{SOAK_HEIGHT} mono16',
        # All pairs offered since start-up (readiness probes included), as pairs_in counts.
        'pairs_sent': n.sent, 'pairs_sent_in_soak': sent, 'flood_seconds': round(flood_s, 1),
        'send_rate_hz': round(sent / flood_s, 1),
        'target_rate_hz': SOAK_RATE_HZ,
        'pairs_in': int(final['pairs_in']), 'pairs_out': int(final['pairs_out']),
        'images_lost_in_transport': lost_in_transport,
        'disparity_received': received,
        'output_rate_hz': round(received / flood_s, 1),
        'drops': {key: int(final[key]) for key in (
            'drops_stale', 'drops_unsynchronised', 'drops_bad_input', 'inference_errors',
            'skipped_no_subscribers')},
        'rss_warmup_mb': round(rss_warm, 1), 'rss_end_mb': round(rss_end, 1),
        'rss_peak_mb': round(rss_peak, 1), 'rss_growth_mb': round(rss_end - rss_warm, 1),
        'diagnostics_received': len(window), 'max_timer_gap_s': round(max_gap, 2),
        'inference_latency_p50_ms': final['inference_latency_p50_ms'],
    }
    recorder.data['soak'] = figures
    assert sent >= SOAK_PAIRS
    assert int(final['pairs_out']) > 0 and received > 0
    assert int(final['drops_bad_input']) == 0 and int(final['inference_errors']) == 0
    assert rss_end - rss_warm <= RSS_GROWTH_LIMIT_MB, figures
    assert max_gap <= TIMER_GAP_LIMIT_S, figures
    assert n.proc.poll() is None
    assert not [line for line in n.lines if '[ERROR]' in line], n.lines[-20:]


def test_sigint_under_full_load_exits_zero_within_2_s(soak_node, recorder):
    """SIGINT while pairs arrive back to back and the worker is busy: clean exit, fast."""
    n = soak_node
    stop = threading.Event()
    feeder = threading.Thread(target=n.flood, args=(stop, SOAK_RATE_HZ), daemon=True)
    feeder.start()
    try:
        # Full load: the node is answering, i.e. its worker is inferring, when the signal lands.
        before = n.disparity_count
        wait_for(lambda: n.disparity_count >= before + 5, 20.0, 'node not under load')
        n.proc.send_signal(signal.SIGINT)
        sent_at = time.monotonic()
        try:
            code = n.proc.wait(10.0)
        except subprocess.TimeoutExpired:
            code = None
        elapsed = time.monotonic() - sent_at
    finally:
        stop.set()
        feeder.join(5.0)
    n._reader.join(5.0)
    output = '\n'.join(n.lines)
    recorder.data['shutdown'] = {'exit_code': code, 'seconds': round(elapsed, 2),
                                 'limit_s': SHUTDOWN_LIMIT_S}
    assert code == 0, output[-3000:]
    assert elapsed <= SHUTDOWN_LIMIT_S
    assert 'Traceback' not in output
    # A frame cut short by the shutdown is not a processing failure.
    assert '[ERROR]' not in output, output[-3000:]


# Checkpoints refused at start-up -----------------------------------------------------------


def _pickle_checkpoint(tmp_path: pathlib.Path) -> pathlib.Path:
    import torch
    path = tmp_path / 'pickled.safetensors'
    torch.save({'w': torch.zeros(2)}, path)
    return path


def _truncated_checkpoint(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tiny_checkpoint(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def _mismatched_checkpoint(tmp_path: pathlib.Path) -> pathlib.Path:
    import torch

    from thermostereo_ros.inference import load_checkpoint, save_checkpoint
    from thermostereo_ros.model import build_model
    _, meta = load_checkpoint(tiny_checkpoint(tmp_path))
    torch.manual_seed(0)
    wider = build_model('thermostereo_rt', {**meta['config'], 'feature_channels': 16})
    # Weights of a wider network under the tiny network's config.
    return save_checkpoint(tmp_path / 'mismatched.safetensors', wider, 'thermostereo_rt',
                           meta['config'], meta['normalization'], {})


CHECKPOINTS = {'pickle': (_pickle_checkpoint, 'pickle'),
               'truncated_safetensors': (_truncated_checkpoint, 'truncated'),
               'mismatched_shapes': (_mismatched_checkpoint, 'shape mismatch')}


@pytest.mark.parametrize('problem', list(CHECKPOINTS))
def test_bad_checkpoint_refused_at_start_up(tmp_path, recorder, problem):
    """One line naming the path and the reason, non-zero exit, no traceback."""
    build, reason = CHECKPOINTS[problem]
    path = build(tmp_path)
    proc = subprocess.run(
        [sys.executable, '-m', 'thermostereo_ros.ros.main', '--ros-args',
         '-p', f'model_path:={path}', '-p', 'device:=cpu', '-r', f'__ns:=/ckpt_{problem}'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=90,
        env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    errors = [line for line in proc.stdout.splitlines() if 'error' in line.lower()]
    recorder.data.setdefault('checkpoints', {})[problem] = {
        'exit_code': proc.returncode, 'message': errors[0] if errors else proc.stdout[-500:]}
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stdout
    assert len(errors) == 1, proc.stdout
    assert str(path) in errors[0] and reason in errors[0], errors[0]
