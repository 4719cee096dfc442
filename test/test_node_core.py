# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node's logic outside the node: post-processing, calibration checks, diagnostics rules,
the worker, the synchroniser's reconfiguration, the launch decisions, the per-size caches."""

import threading
import time

import numpy as np
import pytest

from thermostereo_ros.geometry import rectified_camera
from thermostereo_ros.inference.postprocess import (
    contrast_ratio, INVALID_DISPARITY, mask_invalid, validity)
from thermostereo_ros.inference.size_cache import SizeCache
from thermostereo_ros.ros import diagnostics as diag
from thermostereo_ros.ros.stamps import StampGuard
from thermostereo_ros.ros.sync import LEFT_INFO, PairSynchronizer, RIGHT_INFO
from thermostereo_ros.ros.worker import LatestJobWorker

FX, B, CX, CY = 400.0, 0.3, 320.0, 128.0


def _p(fx=FX, fy=None, cx=CX, cy=CY, tx=0.0):
    fy = fx if fy is None else fy
    return [fx, 0.0, cx, tx, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]


# Post-processing ------------------------------------------------------------------------------

def test_uniform_frames_have_no_contrast_and_scenes_do():
    rng = np.random.default_rng(0)
    uniform = [np.zeros((64, 160), np.uint16), np.full((64, 160), 65535, np.uint16),
               (7000 + rng.integers(-2, 3, (64, 160))).astype(np.uint16),
               (7000 + rng.normal(0, 30, (256, 640))).astype(np.uint16),
               (128 + rng.normal(0, 3, (256, 640))).clip(0, 255).astype(np.uint8)]
    for image in uniform:
        assert contrast_ratio(image) < 7.0, image.dtype
    from thermostereo_ros.inference.shifted_texture import synthetic_pair
    left, right = synthetic_pair(64, 160, seed=3)
    assert contrast_ratio(left) > 20.0 and contrast_ratio(right) > 20.0
    # Scale-free: the same scene as 8-bit or as float scores alike.
    scaled = (left.astype(np.float32) / left.max() * 255).astype(np.uint8)
    assert contrast_ratio(scaled) > 20.0


def test_validity_and_invalid_value():
    raw = np.array([[np.nan, -1.0, 5.0, 2.0, 300.0]], np.float32)
    confidence = np.array([[1, 1, 1, 0.1, 1]], np.float32)
    adjusted, valid = validity(raw, confidence, doffs=1.0, max_disparity=192.0,
                               confidence_threshold=0.5)
    # NaN, negative, 5 px at column 2 (its match left of the image), low confidence, > max.
    assert valid.tolist() == [[False, False, False, False, False]]
    raw = np.array([[0.0, 0.5, 1.5, 2.5]], np.float32)
    adjusted, valid = validity(raw, np.ones_like(raw), 1.0, 192.0, 0.0)
    assert valid.tolist() == [[False, False, True, True]]  # depth must be positive
    out = mask_invalid(adjusted, valid, copy=True)
    assert out[0, 0] == INVALID_DISPARITY and out[0, 2] == pytest.approx(0.5)
    assert adjusted[0, 0] == -1.0  # copy=True left the input alone


# Calibration ----------------------------------------------------------------------------------

@pytest.mark.parametrize('p_left, p_right, words', [
    (_p(fx=-FX), _p(fx=-FX, tx=FX * B), 'focal lengths must be positive'),
    (_p(), _p(fx=2 * FX, tx=-2 * FX * B), 'not a rectified pair'),
    (_p(), _p(fx=-FX, tx=-FX * B), 'right fx'),
    (_p(fy=-FX), _p(fy=-FX, tx=-FX * B), 'fy'),
    (_p(), _p(cy=CY + 10, tx=-FX * B), 'not row-aligned'),
    (_p(), _p(tx=-FX * B * 1000), 'millimetres'),
    (_p(), _p(tx=-FX * 0.001), 'outside'),
    (_p(), _p(tx=FX * B), 'baseline'),
])
def test_calibrations_that_are_not_a_rectified_pair_are_refused(p_left, p_right, words):
    with pytest.raises(ValueError, match=words):
        rectified_camera(p_left, p_right, min_baseline=0.01, max_baseline=5.0)


def test_a_rectified_pair_is_accepted():
    camera = rectified_camera(_p(), _p(cx=CX - 2, tx=-FX * B), min_baseline=0.01,
                              max_baseline=5.0)
    assert camera.baseline == pytest.approx(B) and camera.doffs == pytest.approx(2.0)


# Diagnostics ----------------------------------------------------------------------------------

def _snapshot(**changes):
    base = dict(image_topics={'left': '/l/image', 'right': '/r/image'},
                info_topics={'left': '/l/info', 'right': '/r/info'},
                images_arriving={'left': True, 'right': True},
                has_camera_info={'left': True, 'right': True},
                last_stamp_ns={'left': 2_000_000_000, 'right': 1_500_000_000})
    base.update(changes)
    return diag.Snapshot(**base)


def test_silence_is_never_ok_and_names_its_cause():
    assert diag.assess(_snapshot(new_pairs_in=10, new_pairs_out=10)) == (diag.OK, 'ok')
    level, text = diag.assess(_snapshot(seconds_without_output=4.0,
                                        has_camera_info={'left': True, 'right': False}))
    assert level == diag.WARN and 'camera_info never received on /r/info' in text
    level, text = diag.assess(_snapshot(seconds_without_output=12.0))
    assert level == diag.ERROR and 'stamps never match' in text and '+500.0 ms' in text
    level, text = diag.assess(_snapshot(seconds_without_output=5.0,
                                        images_arriving={'left': True, 'right': False}))
    assert level == diag.WARN and 'no images on /r/image' in text
    level, text = diag.assess(_snapshot(seconds_without_output=5.0, new_bad=3,
                                        last_bad='/l/image: bad encoding'))
    assert level == diag.WARN and 'every message rejected: /l/image: bad encoding' in text
    level, text = diag.assess(_snapshot(seconds_without_output=5.0, new_pairs_in=4,
                                        new_inference_errors=4, last_inference_error='boom'))
    assert 'inference fails: boom' in text
    level, text = diag.assess(_snapshot(seconds_without_output=5.0,
                                        images_arriving={'left': False, 'right': False}))
    assert level == diag.WARN and text.startswith('no input')


def test_uniform_frames_and_idle_node_are_reported():
    level, text = diag.assess(_snapshot(new_pairs_in=5, new_pairs_out=5, new_low_contrast=5))
    assert level == diag.WARN and 'uniform' in text
    level, text = diag.assess(_snapshot(new_pairs_in=5, new_skipped=5,
                                        seconds_without_output=30.0))
    assert level == diag.OK and 'no subscribers' in text
    assert diag.assess(_snapshot(engine_error='cannot load'))[0] == diag.ERROR


def test_status_names_differ_per_namespace():
    assert diag.status_name('/a/thermostereo') != diag.status_name('/b/thermostereo')


# Worker and synchroniser ----------------------------------------------------------------------

def test_worker_keeps_the_newest_job_and_stops_fast():
    seen, gate = [], threading.Event()

    def process(job, waited_ms):
        gate.wait(5.0)
        seen.append(job)

    worker = LatestJobWorker(process, lambda: None, lambda exc: True, 'test_worker')
    worker.offer(1)
    time.sleep(0.1)  # the thread took job 1 and waits on the gate
    assert worker.offer(2) is None and worker.offer(3) == 2  # 2 became stale
    gate.set()
    deadline = time.monotonic() + 5
    while seen != [1, 3] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [1, 3]
    assert worker.stop(1.0)


def test_worker_survives_a_failing_job():
    errors = []
    worker = LatestJobWorker(lambda job, waited: 1 / job, lambda: None,
                             lambda exc: errors.append(exc) or True, 'test_worker')
    worker.offer(0)
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(errors[0], ZeroDivisionError)
    assert worker.stop(1.0)


def test_reconfiguring_the_synchroniser_keeps_the_calibration():
    sync = PairSynchronizer(queue_size=5)
    sync.add(LEFT_INFO, 0, 'left info')
    sync.add(RIGHT_INFO, 0, 'right info')
    sync.configure(approximate_sync=True, tolerance_seconds=0.02, queue_size=10,
                   cache_camera_info=True)
    assert sync.has_camera_info(LEFT_INFO) and sync.has_camera_info(RIGHT_INFO)
    sync.add('left_image', 100, 'L')
    pair = sync.add('right_image', 105, 'R')  # within the new tolerance
    assert pair is not None and pair.left_info == 'left info'


# Per-size caches ------------------------------------------------------------------------------

def test_size_cache_is_bounded_and_least_recently_used():
    cache = SizeCache(capacity=2)
    made = []

    def make(key):
        return lambda: made.append(key) or key

    for key in ((1, 1), (2, 2), (1, 1), (3, 3)):
        cache.get(key, make(key))
    assert len(cache) == 2 and (1, 1) in cache and (2, 2) not in cache
    assert made == [(1, 1), (2, 2), (3, 3)]


def test_a_stamp_going_back_starts_a_new_timeline_and_staleness_stays_within_one():
    guard = StampGuard()
    guard.accept('left', 100)
    assert guard.went_back('left', 150) == (0, False) and guard.timeline == 0
    guard.accept('left', 150)
    guard.accept('right', 150)
    assert guard.went_back('left', 40) == (110, True) and guard.timeline == 1
    assert guard.went_back('left', 40) == (0, False)  # the new timeline is accepted from now on
    # The other side's jump joins the timeline the first one started (one restart, not two).
    assert guard.went_back('right', 41) == (109, False) and guard.timeline == 1
    guard.accept('left', 60)
    assert guard.went_back('left', 5) == (55, True) and guard.timeline == 2  # a second loop
    guard.processed(1, 500)
    assert guard.older_than_processed(1, 499)
    assert not guard.older_than_processed(2, 10)  # a later timeline's early stamps are new


def test_throttle_lets_each_key_through_once_per_period():
    throttle = diag.Throttle(1.0)
    assert throttle.ready('a', 10.0) and throttle.ready('b', 10.1)
    assert not throttle.ready('a', 10.9)
    assert throttle.ready('a', 11.0)


def test_stats_count_what_the_node_reports():
    stats = diag.Stats(['encoding'])
    assert stats.count_bad('encoding', '/left: bad encoding') == 1
    assert stats.count_bad('encoding', '/left: bad encoding') == 2
    stats.count(pairs_in=3, stale=1)
    stats.count_error('processing failed: boom')
    stats.count_output({'inference_latency': 12.0}, low_contrast=True)
    counts = stats.locked_counts()
    assert (counts['bad'], counts['pairs_in'], counts['stale'], counts['errors'],
            counts['pairs_out'], counts['low_contrast']) == (2, 3, 1, 1, 1, 1)
    assert list(stats.latency['inference_latency']) == [12.0]
    assert stats.last_bad == '/left: bad encoding'
