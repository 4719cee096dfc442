# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""PairSynchronizer: exact and approximate matching, camera_info caching, bounded queues."""

import threading

import pytest

from thermostereo_ros.ros.sync import (
    LEFT_IMAGE, LEFT_INFO, PairSynchronizer, RIGHT_IMAGE, RIGHT_INFO)

MS = 1_000_000


def _infos(sync, stamp=0):
    assert sync.add(LEFT_INFO, stamp, 'li') is None
    return sync.add(RIGHT_INFO, stamp, 'ri')


def test_exact_match_in_either_order():
    sync = PairSynchronizer()
    _infos(sync)
    assert sync.add(LEFT_IMAGE, 10 * MS, 'L10') is None
    pair = sync.add(RIGHT_IMAGE, 10 * MS, 'R10')
    assert (pair.stamp_ns, pair.left_image, pair.right_image) == (10 * MS, 'L10', 'R10')
    assert (pair.left_info, pair.right_info) == ('li', 'ri')
    assert sync.add(RIGHT_IMAGE, 20 * MS, 'R20') is None
    assert sync.add(LEFT_IMAGE, 20 * MS, 'L20').right_image == 'R20'
    assert sync.dropped == 0 and sync.matched == 2


def test_exact_rejects_one_nanosecond_apart_and_counts_drops():
    sync = PairSynchronizer()
    _infos(sync)
    sync.add(LEFT_IMAGE, 10 * MS, 'L')
    assert sync.add(RIGHT_IMAGE, 10 * MS + 1, 'R') is None
    sync.add(LEFT_IMAGE, 20 * MS, 'L2')
    assert sync.add(RIGHT_IMAGE, 20 * MS, 'R2').left_image == 'L2'
    # The unmatched left at 10 ms and right at 10 ms + 1 ns were skipped over.
    assert sync.dropped == 2
    assert sync.pending() == {LEFT_IMAGE: 0, RIGHT_IMAGE: 0, LEFT_INFO: 0, RIGHT_INFO: 0}


def test_waits_for_cached_camera_info():
    sync = PairSynchronizer()
    sync.add(LEFT_IMAGE, 1, 'L')
    assert sync.add(RIGHT_IMAGE, 1, 'R') is None
    sync.add(LEFT_INFO, 0, 'li')
    pair = sync.add(RIGHT_INFO, 0, 'ri')
    assert pair is not None and pair.left_image == 'L'
    # The latest info is used for later frames, whatever its stamp.
    sync.add(LEFT_INFO, 5, 'li2')
    sync.add(LEFT_IMAGE, 9, 'L9')
    assert sync.add(RIGHT_IMAGE, 9, 'R9').left_info == 'li2'


def test_per_frame_camera_info_must_match():
    sync = PairSynchronizer(cache_camera_info=False)
    sync.add(LEFT_IMAGE, 7, 'L')
    sync.add(RIGHT_IMAGE, 7, 'R')
    sync.add(LEFT_INFO, 7, 'li')
    assert sync.add(RIGHT_INFO, 6, 'ri-old') is None
    pair = sync.add(RIGHT_INFO, 7, 'ri')
    assert (pair.left_info, pair.right_info) == ('li', 'ri')
    assert sync.dropped == 1  # the right info stamped 6


def test_approximate_within_tolerance_picks_nearest():
    sync = PairSynchronizer(approximate_sync=True, tolerance_seconds=0.005, queue_size=10)
    _infos(sync)
    sync.add(RIGHT_IMAGE, 96 * MS, 'R96')
    sync.add(RIGHT_IMAGE, 102 * MS, 'R102')
    pair = sync.add(LEFT_IMAGE, 101 * MS, 'L101')
    assert pair.right_image == 'R102'
    assert sync.dropped == 1  # R96 was older than the match
    sync.add(LEFT_IMAGE, 200 * MS, 'L200')
    assert sync.add(RIGHT_IMAGE, 206 * MS, 'R206') is None  # 6 ms > 5 ms tolerance


def test_approximate_zero_tolerance_is_exact():
    sync = PairSynchronizer(approximate_sync=True, tolerance_seconds=0.0)
    _infos(sync)
    sync.add(LEFT_IMAGE, 5, 'L')
    assert sync.add(RIGHT_IMAGE, 6, 'R') is None
    assert sync.add(RIGHT_IMAGE, 5, 'R').left_image == 'L'


def test_queue_is_bounded_and_overflow_counted():
    sync = PairSynchronizer(queue_size=3)
    _infos(sync)
    for i in range(10):
        sync.add(LEFT_IMAGE, i, f'L{i}')
    assert sync.pending()[LEFT_IMAGE] == 3
    assert sync.dropped == 7
    assert sync.add(RIGHT_IMAGE, 8, 'R8').left_image == 'L8'
    assert sync.dropped == 8  # L7 skipped; L9 still waits
    assert sync.pending()[LEFT_IMAGE] == 1


def test_out_of_order_arrival_and_newest_wins():
    sync = PairSynchronizer(queue_size=5)
    _infos(sync)
    sync.add(LEFT_IMAGE, 3, 'L3')
    sync.add(LEFT_IMAGE, 1, 'L1')
    sync.add(RIGHT_IMAGE, 1, 'R1')  # matched at once
    sync.add(RIGHT_IMAGE, 3, 'R3')
    assert sync.matched == 2 and sync.dropped == 0


def test_reset_and_bad_arguments():
    sync = PairSynchronizer()
    sync.add(LEFT_IMAGE, 1, 'L')
    sync.add(RIGHT_IMAGE, 2, 'R')
    sync.reset(RIGHT_IMAGE)
    assert sync.pending()[LEFT_IMAGE] == 1 and sync.pending()[RIGHT_IMAGE] == 0
    sync.reset()
    assert sync.pending()[LEFT_IMAGE] == 0 and sync.dropped == 2
    with pytest.raises(ValueError, match='stream'):
        sync.add('middle', 1, 'x')
    with pytest.raises(ValueError, match='queue_size'):
        PairSynchronizer(queue_size=0)
    with pytest.raises(ValueError, match='tolerance'):
        PairSynchronizer(approximate_sync=True, tolerance_seconds=-1.0)


def test_thread_safety_under_concurrent_producers():
    sync = PairSynchronizer(queue_size=1000)
    _infos(sync)
    pairs = []

    def produce(stream):
        for i in range(500):
            pair = sync.add(stream, i, i)
            if pair is not None:
                pairs.append(pair)

    threads = [threading.Thread(target=produce, args=(s,)) for s in (LEFT_IMAGE, RIGHT_IMAGE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p.left_image == p.right_image for p in pairs)
    assert len(pairs) + sync.dropped // 2 >= 1 and pairs[-1].stamp_ns == 499
