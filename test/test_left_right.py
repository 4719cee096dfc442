# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The left-right check: exact disparities agree, occlusions and wrong matches do not."""

import numpy as np
import pytest

from thermostereo_ros.data.augment import left_to_right_disparity
from thermostereo_ros.data.synthetic import render_pair
from thermostereo_ros.inference.engine import StereoEngine
from thermostereo_ros.inference.left_right import (consistent, kept_share, mirrored_pair,
                                                   unmirror)
from thermostereo_ros.inference.pipeline import run_pair
from thermostereo_ros.inference.shifted_texture import synthetic_pair


def _box_scene(height=40, width=96, background=4.0, box=12.0, x0=40, x1=60):
    """Left disparity of a plane with a nearer box, and the right view's (exact)."""
    left = np.full((height, width), background, np.float32)
    left[:, x0:x1] = box
    return left, left_to_right_disparity(left)


def test_exact_disparities_agree_except_where_one_view_is_hidden():
    left, right = _box_scene()
    ok = consistent(left, right, 0.5)
    # Background just left of the box: its match in the right view lies behind the box.
    hidden = np.zeros_like(ok)
    hidden[:, 40 - 8:40] = True
    # The first 4 columns match outside the right image.
    outside = np.zeros_like(ok)
    outside[:, :4] = True
    assert ok[~hidden & ~outside].all()
    assert not ok[hidden].any() and not ok[outside].any()


def test_a_rendered_pair_is_consistent_with_itself_where_both_views_see_it():
    """Renderer GT as both predictions agrees over the pixels both views see.

    The renderer gives the left view's disparity only; the right view's is its forward warp to
    whole pixels, which is not exact where a surface's disparity changes by more than a pixel
    between neighbours (the edges of thin structures): 0.3 % of this frame's pixels.
    """
    sample = render_pair(3, 64, 160, 96, family='street')
    left = np.where(sample.sky, 0.0, sample.disparity).astype(np.float32)
    right = left_to_right_disparity(left)
    ok = consistent(left, right, 1.0)
    visible = ~sample.occluded & ~sample.sky & (left > 0)
    columns = np.arange(left.shape[1])[None, :]
    visible &= columns - np.rint(left) >= 0
    assert visible.mean() > 0.5
    assert ok[visible].mean() > 0.995


def test_a_wrong_match_and_non_finite_values_fail():
    left, right = _box_scene()
    wrong = left.copy()
    wrong[10:20, 70:80] = 30.0
    wrong[0, 80] = np.nan
    ok = consistent(wrong, right, 1.0)
    assert not ok[10:20, 70:80].any() and not ok[0, 80]
    assert ok[30:, 70:80].all()
    assert kept_share(np.ones_like(ok), ok) == pytest.approx(ok.mean())
    assert np.isnan(kept_share(np.zeros_like(ok), ok))


def test_shapes_and_tolerance_are_checked():
    left, right = _box_scene()
    with pytest.raises(ValueError, match='shapes differ'):
        consistent(left, right[:, 1:])
    with pytest.raises(ValueError, match='tolerance'):
        consistent(left, right, -1.0)


def test_mirroring_twice_is_the_identity():
    a, b = synthetic_pair(8, 16, 2)
    ml, mr = mirrored_pair(a, b)
    assert np.array_equal(ml, b[:, ::-1]) and np.array_equal(mr, a[:, ::-1])
    assert np.array_equal(unmirror(unmirror(a)), a)


@pytest.fixture(scope='module')
def torch_engine():
    return StereoEngine.from_checkpoint(device='cpu', backend='torch', precision='fp32')


def test_the_network_sees_a_plane_from_both_views(torch_engine):
    """Shipped weights, both paths (batched torch, and the mirrored pair run on its own)."""
    left, right = synthetic_pair(64, 192, 12)
    joint, right_view = torch_engine.infer_left_right(left, right)
    alone = torch_engine.infer(left, right)
    # The left view is the same network on the same pair (one batch instead of another).
    assert np.abs(joint.disparity - alone.disparity).max() < 1e-3
    mirrored = unmirror(torch_engine.infer(*mirrored_pair(left, right)).disparity)
    interior = (slice(8, -8), slice(24, -24))
    assert np.median(right_view[interior]) == pytest.approx(12, abs=0.5)
    assert np.median(mirrored[interior]) == pytest.approx(12, abs=0.5)
    assert consistent(joint.disparity, right_view, 1.0)[interior].mean() > 0.95


def test_run_pair_invalidates_what_the_check_rejects(torch_engine):
    left, right = synthetic_pair(64, 192, 12)
    plain = run_pair(torch_engine, left, right, doffs=0.0, max_disparity=192,
                     confidence_threshold=0.0, min_contrast=0.0, keep_adjusted=False)
    checked = run_pair(torch_engine, left, right, doffs=0.0, max_disparity=192,
                       confidence_threshold=0.0, min_contrast=0.0, keep_adjusted=False,
                       lr_tolerance=1.0)
    assert np.isnan(plain.lr_kept)
    assert not (checked.valid & ~plain.valid).any()
    assert checked.lr_kept == pytest.approx(checked.valid.sum() / plain.valid.sum())
    assert 0.5 < checked.lr_kept < 1.0  # the left border's columns see nothing on the right


def test_an_exported_backend_runs_the_mirrored_pair_itself(torch_engine):
    pytest.importorskip('onnxruntime')
    onnx_engine = StereoEngine.from_checkpoint(device='cpu', backend='onnxruntime')
    left, right = synthetic_pair(64, 192, 12)
    result, right_view = onnx_engine.infer_left_right(left, right)
    mirrored = unmirror(torch_engine.infer(*mirrored_pair(left, right)).disparity)
    # Another runtime's kernels: a few hundredths of a pixel, at most 0.12 px at the border.
    for got, expected in ((right_view, mirrored),
                          (result.disparity, torch_engine.infer(left, right).disparity)):
        assert np.median(np.abs(got - expected)) < 0.05 and np.abs(got - expected).max() < 0.5
