# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Stereo-consistent augmentation: flip swaps views, scaling scales disparity."""

import numpy as np
import pytest

from thermostereo_ros.data import augment as aug
from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.data.synthetic import render_pair


def _sample():
    # Noise-free radiance of a textured scene: the checks below are about geometry, so the
    # two cameras' own gains, offsets and noise (the sensor model) are left out.
    p = render_pair(21, 96, 240, 64, family='flying', keep_radiance=True)
    left, right = normalize_pair(p.radiance_left, p.radiance_right)
    valid = ~p.sky & (p.disparity > 0)
    return dict(left=left, right=right, disparity=p.disparity, valid_dense=valid,
                valid_sparse=p.sparse_valid.copy())


def _match_error(sample, shift=0.0):
    left, right, disp = sample['left'], sample['right'], sample['disparity']
    ys, xs = np.nonzero(disp > 1)
    xr = np.rint(xs - disp[ys, xs] - shift).astype(int)
    ok = (xr >= 0) & (xr < left.shape[1])
    return np.median(np.abs(left[ys[ok], xs[ok]] - right[ys[ok], xr[ok]]))


def test_hflip_mirrors_and_swaps():
    s = _sample()
    f = aug.hflip(s)
    np.testing.assert_array_equal(f['left'], s['right'][:, ::-1])
    np.testing.assert_array_equal(f['right'], s['left'][:, ::-1])
    assert (f['disparity'] >= 0).all() and (f['disparity'] > 0).mean() > 0.5
    # After the flip, new left at x matches new right at x - d (positive disparity).
    assert _match_error(f) < 0.75 * _match_error(f, shift=-6)
    assert _match_error(f) < 0.75 * _match_error(f, shift=6)
    assert not (f['valid_dense'] & (f['disparity'] == 0)).any()


def test_hflip_naive_flip_would_fail():
    s = _sample()
    naive = dict(s, left=s['left'][:, ::-1].copy(), right=s['right'][:, ::-1].copy(),
                 disparity=s['disparity'][:, ::-1].copy())
    assert _match_error(naive) > 2 * _match_error(aug.hflip(s))


def test_rescale_scales_disparity():
    s = _sample()
    r = aug.rescale(s, 0.5)
    assert r['left'].shape == (48, 120)
    assert abs(r['disparity'].max() - 0.5 * s['disparity'].max()) < 0.05 * s['disparity'].max()
    assert _match_error(r) < 0.75 * _match_error(r, shift=4)


def test_crop_and_photometric():
    s = _sample()
    rng = np.random.default_rng(0)
    c = aug.random_crop(s, (64, 128), rng)
    assert c['left'].shape == c['disparity'].shape == c['valid_sparse'].shape == (64, 128)
    p = aug.photometric(s, rng)
    assert p['left'].dtype == np.float32 and 0 <= p['left'].min() and p['left'].max() <= 1
    np.testing.assert_array_equal(p['disparity'], s['disparity'])
    a = aug.augment(s, np.random.default_rng(1), crop_size=(64, 128))
    assert a['left'].shape == (64, 128)


def test_shift_adds_k_to_every_disparity_exactly():
    rng = np.random.default_rng(4)
    h, w, k = 24, 96, 17
    texture = rng.random((h, w + 80)).astype(np.float32)
    d = 6.0
    left = texture[:, 40:40 + w]
    right = texture[:, 40 + int(d):40 + int(d) + w]     # right(x) = left(x + d)
    sample = dict(left=left, right=right, disparity=np.full((h, w), d, np.float32),
                  valid_dense=np.ones((h, w), bool), valid_sparse=np.zeros((h, w), bool))
    out = aug.shift(sample, k, max_disparity=30.0)
    assert out['left'].shape == out['right'].shape == (h, w - k)
    np.testing.assert_array_equal(out['disparity'], d + k)
    xs = np.arange(int(d) + k, w - k)
    np.testing.assert_array_equal(out['left'][:, xs], out['right'][:, xs - int(d) - k])
    # Beyond max_disparity after the shift: out of the masks.
    far = aug.shift(sample, k, max_disparity=d + k)
    assert not far['valid_dense'].any()
    with pytest.raises(ValueError, match='does not leave'):
        aug.shift(sample, w)


def test_augment_shift_keeps_the_crop():
    rng = np.random.default_rng(5)
    h, w = 32, 128
    sample = dict(left=rng.random((h, w)).astype(np.float32),
                  right=rng.random((h, w)).astype(np.float32),
                  disparity=np.full((h, w), 3.0, np.float32), valid_dense=np.ones((h, w), bool),
                  valid_sparse=np.zeros((h, w), bool))
    shifted = [aug.augment(sample, np.random.default_rng(i), crop_size=(16, 64),
                           shift_prob=1.0, shift_max=40, scale_prob=0.0, flip_prob=0.0)
               for i in range(20)]
    assert all(s['left'].shape == (16, 64) for s in shifted)
    ks = {float(s['disparity'][0, 0]) - 3.0 for s in shifted}
    assert min(ks) >= 1 and max(ks) <= 40 and len(ks) > 5
