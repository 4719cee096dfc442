# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Hand-computed checks of the disparity and depth metrics."""

import math

import numpy as np
import pytest

from thermostereo_ros.evaluation.metrics import (
    depth_metrics, disparity_metrics, MetricAccumulator)


def test_disparity_metrics_hand_computed():
    gt = np.array([[10.0, 100.0, 50.0, 0.0, 300.0]])
    pred = np.array([[10.5, 104.0, 53.5, 7.0, 0.0]])
    # valid: 10, 100, 50 (0 = none, 300 >= max 192); errors 0.5, 4.0, 3.5
    m = disparity_metrics(pred, gt, max_disparity=192)
    assert m['epe'] == pytest.approx(8.0 / 3)
    # D1: err > 3 and > 5 % gt: 4 > 5 (no), 3.5 > 2.5 (yes) -> 1/3
    assert m['d1'] == pytest.approx(100 / 3)
    assert m['bad1'] == pytest.approx(200 / 3)
    assert m['bad2'] == pytest.approx(200 / 3)
    assert m['bad3'] == pytest.approx(200 / 3)
    masked = disparity_metrics(pred, gt, mask=np.array([[1, 0, 0, 1, 1]], bool))
    assert masked['epe'] == pytest.approx(0.5) and masked['d1'] == 0


def test_depth_metrics_hand_computed():
    f, b = 100.0, 0.5  # f * B = 50: gt disparity 10 -> 5 m, 5 -> 10 m
    gt = np.array([10.0, 5.0])
    pred = np.array([12.5, 5.0])  # 4 m and 10 m
    m = depth_metrics(pred, gt, f, b)
    assert m['abs_rel'] == pytest.approx((1 / 5 + 0) / 2)
    assert m['sq_rel'] == pytest.approx((1 / 5) / 2)
    assert m['rmse'] == pytest.approx(math.sqrt(0.5))
    assert m['rmse_log'] == pytest.approx(math.sqrt(math.log(5 / 4) ** 2 / 2))
    assert m['log10'] == pytest.approx(abs(math.log10(5 / 4)) / 2)
    assert m['a1'] == pytest.approx(50.0)  # ratio 5 / 4 = 1.25 is not < 1.25
    assert m['a2'] == pytest.approx(100.0)
    far = depth_metrics(np.array([1.0]), np.array([0.5]), f, b)  # gt 100 m > 80 m
    assert math.isnan(far['abs_rel'])


def test_delta_threshold_strict():
    m = depth_metrics(np.array([10.0]), np.array([13.0]), 100.0, 0.5)  # ratio 1.3
    assert m['a1'] == 0 and m['a2'] == 100.0


def test_accumulator_is_pixel_weighted():
    acc = MetricAccumulator(max_disparity=192)
    acc.update(np.array([[1.0]]), np.array([[2.0]]))              # 1 px, err 1
    acc.update(np.array([[5.0, 5.0, 5.0]]), np.array([[5.0, 5.0, 5.0]]))  # 3 px, err 0
    r = acc.result()
    assert r['epe'] == pytest.approx(0.25)  # per-image mean would give 0.5
    assert r['frames'] == 2 and r['pixels'] == 4
    assert 'abs_rel' not in r


def test_accumulator_mask_and_depth():
    acc = MetricAccumulator()
    acc.update(np.array([[10.0, 1.0]]), np.array([[10.0, 5.0]]),
               mask=np.array([[True, False]]), focal_px=100, baseline_m=0.5)
    r = acc.result()
    assert r['epe'] == 0 and r['pixels'] == 1 and r['abs_rel'] == pytest.approx(0)


def test_discontinuity_region_marks_edges_not_slopes():
    from thermostereo_ros.evaluation.metrics import discontinuity_region
    gt = np.tile(np.linspace(10.0, 20.0, 40, dtype=np.float32), (20, 1))  # a slanted plane
    assert not discontinuity_region(gt, 2).any()
    gt[:, 25:] += 8.0                                               # a depth edge at x 25
    region = discontinuity_region(gt, 2)
    assert region[:, 22:28].all() and not region[:, :22].any() and not region[:, 28:].any()
    gt[:5] = 0.0                                                    # unknown rows above
    assert discontinuity_region(gt, 1)[3:7, :10].all()
