# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""StereoCamera and reprojection against OpenCV's stereoRectify / reprojectImageTo3D."""

import cv2
import numpy as np
import pytest

from thermostereo_ros.geometry import (
    StereoCamera, adjust_disparity, disparity_to_depth, disparity_to_points)


def _projections(fx=400.0, fy=400.0, cxl=320.5, cxr=310.0, cy=255.0, baseline=0.3):
    p_left = [fx, 0, cxl, 0, 0, fy, cy, 0, 0, 0, 1, 0]
    p_right = [fx, 0, cxr, -fx * baseline, 0, fy, cy, 0, 0, 0, 1, 0]
    return p_left, p_right


def test_from_projection_fields():
    cam = StereoCamera.from_projection(*_projections(), k_left=np.eye(3))
    assert cam.fx == 400.0 and cam.fy == 400.0
    assert cam.cx_left == 320.5 and cam.cx_right == 310.0 and cam.cy == 255.0
    assert cam.baseline == pytest.approx(0.3)
    assert cam.doffs == pytest.approx(10.5)


def test_q_matches_opencv_stereo_rectify():
    k = np.array([[400.0, 0, 320], [0, 400.0, 256], [0, 0, 1]])
    r = cv2.Rodrigues(np.array([0.0, 0.02, 0.0]))[0]
    t = np.array([[-0.25], [0.0], [0.0]])
    _, _, p1, p2, q, _, _ = cv2.stereoRectify(k, np.zeros(5), k, np.zeros(5), (640, 512), r, t,
                                              flags=0, alpha=-1)
    cam = StereoCamera.from_projection(p1.ravel(), p2.ravel())
    assert cam.baseline == pytest.approx(0.25, rel=1e-6)
    np.testing.assert_allclose(cam.q_matrix(), q, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('field, kwargs', [
    ('fx', dict(fx=0.0)),
    ('baseline', dict(baseline=0.0)),
    ('baseline', dict(baseline=-0.2)),
])
def test_invalid_calibration_names_field(field, kwargs):
    p_left, p_right = _projections(**kwargs)
    with pytest.raises(ValueError, match=field):
        StereoCamera.from_projection(p_left, p_right)


def test_wrong_shape_and_non_finite_rejected():
    with pytest.raises(ValueError, match='left P'):
        StereoCamera.from_projection([1.0] * 9, _projections()[1])
    with pytest.raises(ValueError, match='fy'):
        StereoCamera(fx=1.0, fy=0.0, cx_left=0, cx_right=0, cy=0, baseline=1.0)
    with pytest.raises(ValueError, match='cy'):
        StereoCamera(fx=1.0, fy=1.0, cx_left=0, cx_right=0, cy=float('nan'), baseline=1.0)


def _random_disparity(shape=(48, 64), seed=0):
    rng = np.random.default_rng(seed)
    d = rng.uniform(11.0, 60.0, size=shape).astype(np.float32)
    d[rng.random(shape) < 0.1] = np.nan
    d[rng.random(shape) < 0.05] = 2.0  # adjusted disparity < 0 (behind the camera)
    return d


def test_depth_formula_with_principal_point_offset():
    cam = StereoCamera.from_projection(*_projections())
    d = _random_disparity()
    depth = disparity_to_depth(d, cam)
    expected = cam.fx * cam.baseline / (d - cam.doffs)
    valid = np.isfinite(d) & (d - cam.doffs > 0)
    np.testing.assert_allclose(depth[valid], expected[valid], rtol=1e-5)
    assert np.all(np.isnan(depth[~valid]))
    # The DisparityImage convention gives the same depth.
    np.testing.assert_allclose(
        disparity_to_depth(adjust_disparity(d, cam), cam, adjusted=True), depth,
        rtol=1e-6, equal_nan=True)


def test_points_match_reproject_image_to_3d():
    cam = StereoCamera.from_projection(*_projections())
    d = _random_disparity()
    ours = disparity_to_points(d, cam)
    cv = cv2.reprojectImageTo3D(np.nan_to_num(d, nan=-1.0), cam.q_matrix().astype(np.float32),
                                handleMissingValues=False)
    valid = np.isfinite(d) & (d - cam.doffs > 0)
    np.testing.assert_allclose(ours[valid], cv[valid], rtol=1e-4, atol=1e-5)
    assert np.all(np.isnan(ours[~valid]))
    assert ours.dtype == np.float32 and ours.shape == d.shape + (3,)


def test_decimation_and_depth_limits():
    cam = StereoCamera.from_projection(*_projections())
    d = _random_disparity()
    full = disparity_to_points(d, cam)
    dec = disparity_to_points(d, cam, decimation=3)
    np.testing.assert_array_equal(dec, full[::3, ::3])
    limited = disparity_to_points(d, cam, min_depth=3.0, max_depth=6.0)
    z = limited[..., 2]
    finite = np.isfinite(z)
    assert finite.any() and np.all((z[finite] >= 3.0) & (z[finite] <= 6.0))
    assert np.all(np.isnan(limited[~finite]))
    with pytest.raises(ValueError, match='decimation'):
        disparity_to_points(d, cam, decimation=0)


def test_points_out_parameter_fills_a_strided_view():
    """out= (e.g. the x, y, z of an x, y, z, intensity buffer) gets exactly the returned points."""
    cam = StereoCamera.from_projection(*_projections())
    d = _random_disparity()
    for step in (1, 3):
        expected = disparity_to_points(d, cam, decimation=step, min_depth=1.0, max_depth=8.0)
        buffer = np.full(expected.shape[:2] + (4,), 7.0, np.float32)
        result = disparity_to_points(d, cam, decimation=step, min_depth=1.0, max_depth=8.0,
                                     out=buffer[..., :3])
        assert np.shares_memory(result, buffer)
        assert result.tobytes() == expected.tobytes()
        assert np.all(buffer[..., 3] == 7.0)  # the fourth channel is left alone
    with pytest.raises(ValueError, match='out must be'):
        disparity_to_points(d, cam, out=np.empty(d.shape + (3,), np.float64))
    with pytest.raises(ValueError, match='out must be'):
        disparity_to_points(d, cam, decimation=2, out=np.empty(d.shape + (3,), np.float32))


def test_depth_edge_values():
    """Zero, negative, non-finite and tiny disparities and the depth limits: NaN or Z = fT/d."""
    cam = StereoCamera.from_projection(*_projections())
    d = np.array([[0.0, -1.0, np.nan, np.inf, -np.inf, 1e-40, 1.0, 120.0, 12.0]], np.float32)
    with np.errstate(over='ignore'):
        z = cam.focal_baseline / d[0, 5:].astype(np.float64)
    depth = disparity_to_depth(d, cam, adjusted=True)
    assert np.all(np.isnan(depth[0, :5]))
    assert depth[0, 5] == np.inf  # positive but too small: no upper limit by default
    np.testing.assert_allclose(depth[0, 6:], z[1:], rtol=1e-6)
    limited = disparity_to_depth(d, cam, adjusted=True, min_depth=2.0, max_depth=50.0)
    assert np.all(np.isnan(limited[0, [0, 1, 2, 3, 4, 5, 6, 7]])) and limited[0, 8] == depth[0, 8]
