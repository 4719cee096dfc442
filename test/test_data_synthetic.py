# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the procedural thermal stereo renderer."""

import numpy as np
import pytest

from thermostereo_ros.data.synthetic import render_pair, render_sequence

H, W = 128, 320


@pytest.fixture(scope='module')
def pairs():
    return [render_pair(s, H, W, 96, c) for s, c in ((1, 'day'), (2, 'night'), (3, 'rain'))]


def test_deterministic_by_seed():
    a, b = render_pair(5, H, W, 96), render_pair(5, H, W, 96)
    c = render_pair(6, H, W, 96)
    for k in ('left', 'right', 'disparity', 'sparse_valid', 'occluded'):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert not np.array_equal(a.left, c.left)


def test_types_and_ranges(pairs):
    for p in pairs:
        assert p.left.dtype == np.uint16 and p.right.dtype == np.uint16
        assert p.left.shape == (H, W) and p.disparity.dtype == np.float32
        assert p.left.max() < 2 ** 14
        assert 2500 < np.median(p.left) < 6500
        assert np.isfinite(p.disparity).all() and (p.disparity >= 0).all()
        assert (p.disparity[p.sky] == 0).all()
        assert p.camera.fx > 0 and 0.1 < p.camera.baseline < 1.0


def test_disparity_span():
    # Near objects/ground reach a good part of the range; disparity grows toward the bottom.
    maxima = [render_pair(s, H, W, 96).disparity.max() for s in range(6)]
    assert max(maxima) > 0.4 * 96
    p = render_pair(0, H, W, 96)
    assert p.disparity[-1].mean() > p.disparity[H // 2].mean()


def test_sparse_density_and_no_sky(pairs):
    for p in pairs:
        assert not (p.sparse_valid & p.sky).any()
        density = p.sparse_valid.sum() / max(1, (~p.sky).sum())
        assert 0.025 < density < 0.08


def test_condition_contrast():
    day = [np.std(render_pair(s, H, W, 96, 'day').left[H // 2:]) for s in range(4)]
    rain = [np.std(render_pair(s, H, W, 96, 'rain').left[H // 2:]) for s in range(4)]
    assert np.mean(rain) < np.mean(day)


def test_left_right_consistency(pairs):
    """Non-occluded pixels match the right image at x - d; a wrong shift does not."""
    for p in pairs:
        left = p.left.astype(np.float64)
        right = p.right.astype(np.float64)
        ys, xs = np.nonzero(~p.occluded & ~p.sky & (p.disparity > 1))
        keep = (xs - p.disparity[ys, xs] - 8 >= 0)
        ys, xs = ys[keep], xs[keep]
        xr = xs - p.disparity[ys, xs]
        x0 = np.floor(xr).astype(int)
        a = xr - x0
        sampled = (1 - a) * right[ys, x0] + a * right[ys, x0 + 1]
        target = left[ys, xs]

        def residual(source):
            # The cameras differ by a small gain/offset: compare after an affine fit.
            design = np.stack([source, np.ones_like(source)], 1)
            coef = np.linalg.lstsq(design, target, rcond=None)[0]
            return np.sqrt(np.mean((design @ coef - target) ** 2))

        good, bad = residual(sampled), residual(right[ys, x0 - 6])
        assert good < 0.6 * bad, (p.condition, good, bad)


def test_occlusion_marks_left_border():
    p = render_pair(0, H, W, 96)
    border = p.disparity[:, :4] > 5
    assert p.occluded[:, :4][border].all()


def test_sequence_moves_smoothly():
    seq = render_sequence(4, 3, H, W, 96)
    assert len(seq) == 3
    np.testing.assert_array_equal(render_sequence(4, 1, H, W, 96)[0].left,
                                  render_pair(4, H, W, 96).left)
    steps = [np.linalg.norm(seq[i + 1].pose[:3, 3] - seq[i].pose[:3, 3]) for i in range(2)]
    assert all(0.2 < s < 1.5 for s in steps)
    assert seq[1].timestamp > seq[0].timestamp


def test_bad_condition():
    with pytest.raises(ValueError):
        render_pair(0, H, W, 96, 'fog')
