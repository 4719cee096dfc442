# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The training cache: what is read back is what the renderer made, and writing resumes."""

import json

import numpy as np
import pytest

from thermostereo_ros.data import cache
from thermostereo_ros.data.datasets import CachedStereoDataset
from thermostereo_ros.data.synthetic import RENDERER_VERSION, render_pair

H, W, D = 48, 128, 32


@pytest.fixture(scope='module')
def small_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp('cache')
    cache.write_cache(str(root), 5, H, W, D, first_seed=10, workers=1)
    return root


def test_round_trip_equals_renderer(small_cache):
    c = cache.TrainingCache(str(small_cache))
    assert len(c) == 5 and c.manifest['renderer_version'] == RENDERER_VERSION
    for i in (0, 4):
        seed = 10 + i
        condition, bit_depth = cache.pair_settings(seed, ('day', 'night', 'rain'),
                                                   cache.AGC_FRACTION)
        p = render_pair(seed, H, W, D, condition, bit_depth=bit_depth)
        got = c.pair(i)
        np.testing.assert_array_equal(got['left'], p.left)
        np.testing.assert_array_equal(got['right'], p.right)
        np.testing.assert_array_equal(got['occluded'], p.occluded)
        np.testing.assert_array_equal(got['sky'], p.sky)
        np.testing.assert_array_equal(got['sparse'], p.sparse_valid)
        # float16 keeps 11 significant bits: 0.05 % of the disparity.
        np.testing.assert_allclose(got['disparity'], p.disparity, rtol=6e-4, atol=1e-3)
        assert c.meta[i]['seed'] == seed and c.meta[i]['condition'] == condition


def test_dataset_samples_from_cache(small_cache):
    ds = CachedStereoDataset(str(small_cache), D, augment=True, crop=(32, 96))
    s = ds[(2, 123)]
    assert s['left'].shape == (1, 32, 96) and s['disparity'].shape == (32, 96)
    again = ds[(2, 123)]
    np.testing.assert_array_equal(s['left'], again['left'])  # augmentation from its seed
    assert s['valid_sparse'][~s['valid_dense']].sum() == 0


def test_sky_supervision_adds_sky_at_zero(small_cache):
    plain = CachedStereoDataset(str(small_cache), D)
    sky = CachedStereoDataset(str(small_cache), D, supervise_sky=True)
    assert any(cache.TrainingCache(str(small_cache)).pair(i)['sky'].any()
               for i in range(len(plain)))
    for i in range(len(plain)):
        a, b = plain[i], sky[i]
        is_sky = cache.TrainingCache(str(small_cache)).pair(i)['sky']
        np.testing.assert_array_equal(b['valid_dense'], a['valid_dense'] | is_sky)
        assert (b['disparity'][is_sky] == 0).all()
        np.testing.assert_array_equal(a['valid_sparse'], b['valid_sparse'])


def test_resume_and_settings_guard(small_cache, tmp_path):
    manifest = json.loads((small_cache / cache.MANIFEST).read_text())
    before = {p.name: p.stat().st_mtime_ns for p in small_cache.iterdir()}
    cache.write_cache(str(small_cache), 5, H, W, D, first_seed=10, workers=1)
    after = {p.name: p.stat().st_mtime_ns for p in small_cache.iterdir()}
    shard_files = [n for n in before if n.endswith('.npy')]
    assert shard_files and all(before[n] == after[n] for n in shard_files)  # not re-rendered
    assert json.loads((small_cache / cache.MANIFEST).read_text())['shards'] == \
        manifest['shards']
    with pytest.raises(ValueError, match='other settings'):
        cache.write_cache(str(small_cache), 5, H, W, 48, first_seed=10, workers=1)
    with pytest.raises(FileNotFoundError, match='synth --cache'):
        cache.TrainingCache(str(tmp_path / 'none'))
    stale = tmp_path / 'stale'
    stale.mkdir()
    (stale / cache.MANIFEST).write_text(json.dumps({'renderer_version': 1, 'shards': []}))
    with pytest.raises(ValueError, match='renderer v1'):
        cache.TrainingCache(str(stale))


def test_heldout_seeds_are_refused(tmp_path):
    with pytest.raises(ValueError, match='outside'):
        cache.write_cache(str(tmp_path), 2, H, W, D, first_seed=9_000_000, workers=1)


def test_a_family_can_be_left_out(small_cache):
    families = [m['family'] for m in cache.TrainingCache(str(small_cache)).meta]
    left_out = families[0]
    ds = CachedStereoDataset(str(small_cache), D, exclude_families=[left_out])
    assert len(ds) == sum(f != left_out for f in families)
    everything = CachedStereoDataset(str(small_cache), D)
    kept = [i for i, f in enumerate(families) if f != left_out]
    for j, i in enumerate(kept):  # item j is the j-th pair of another family, unchanged
        np.testing.assert_array_equal(ds[j]['left'], everything[i]['left'])
    with pytest.raises(ValueError, match='unknown'):
        CachedStereoDataset(str(small_cache), D, exclude_families=['forest'])
    with pytest.raises(ValueError, match='no pairs left'):
        CachedStereoDataset(str(small_cache), D, exclude_families=sorted(set(families)))
