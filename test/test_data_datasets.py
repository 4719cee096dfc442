# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Datasets yield identical sample dicts; held-out seeds are guarded."""

import numpy as np
import pytest

from thermostereo_ros.data import datasets, heldout
from thermostereo_ros.data.ms2_writer import write_dataset

KEYS = {'left', 'right', 'disparity', 'valid_dense', 'valid_sparse', 'condition'}


def _check(sample, h, w):
    assert set(sample) == KEYS
    assert sample['left'].shape == sample['right'].shape == (1, h, w)
    assert sample['left'].dtype == np.float32 and 0 <= sample['left'].min() <= 1
    assert sample['disparity'].shape == (h, w) and sample['valid_dense'].dtype == bool
    assert not (sample['valid_sparse'] & (sample['disparity'] <= 0)).any()


def test_synthetic_and_ms2_samples(tmp_path):
    ds = datasets.SyntheticStereoDataset([0, 1], 64, 160, 48, augment=True, crop=(32, 96))
    _check(ds[1], 32, 96)
    plain = datasets.SyntheticStereoDataset([2], 64, 160, 48)[0]
    _check(plain, 64, 160)
    assert plain['condition'] == 'rain'
    write_dataset(str(tmp_path), 3, 1, 64, 160, seed=3, max_disparity=48)
    ms = datasets.MS2StereoDataset(str(tmp_path), 'test_night', max_disparity=48)
    assert len(ms) == 1
    s = ms[0]
    _check(s, 64, 160)
    assert s['condition'] == 'night'
    np.testing.assert_array_equal(s['valid_dense'], s['valid_sparse'])
    # 32 beams 1 degree apart are 2 px apart at this tiny size (fx 107 px): semi-dense here;
    # at 640x256 they are 7.5 px apart (about 10 % of the pixels).
    assert 0.01 < s['valid_sparse'].mean() < 0.5


def test_heldout_is_disjoint():
    seeds = [s for c in ('day', 'night', 'rain') for s in heldout.heldout_seeds(c)]
    assert len(set(seeds)) == 3 * heldout.HELDOUT_PAIRS
    assert min(seeds) >= heldout.TRAINING_SEED_LIMIT
    with pytest.raises(ValueError):
        datasets.SyntheticStereoDataset([heldout.HELDOUT_SEED_BASE])
    with pytest.raises(ValueError):
        heldout.assert_training_seed(heldout.TRAINING_SEED_LIMIT)
    first = next(heldout.heldout_pairs('night', count=1, height=32, width=64))
    assert first.condition == 'night' and first.seed == heldout.heldout_seeds('night')[0]
