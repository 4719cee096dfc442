# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Quality without ground truth: the measures, their validation, and `eval --no-gt` on a bag."""

import json
import math

import numpy as np
import pytest

from thermostereo_ros.bags import ms2_to_bag as m2b
from thermostereo_ros.bags.pairs import iter_pairs
from thermostereo_ros.cli import main as cli
from thermostereo_ros.data import ms2, ms2_writer
from thermostereo_ros.data.augment import left_to_right_disparity
from thermostereo_ros.evaluation import no_gt
from thermostereo_ros.inference.shifted_texture import synthetic_pair


def _plane(d=6, h=32, w=96):
    left, right = synthetic_pair(h, w, d)
    scale = float(left.max())
    return left / scale, right / scale, np.full((h, w), float(d), np.float32)


def test_the_exact_disparity_warps_right_onto_left():
    left, right, disparity = _plane()
    warped = no_gt.warp_right_to_left(right.astype(np.float32), disparity)
    assert np.isnan(warped[:, :6]).all()
    assert np.abs(warped[:, 6:] - left[:, 6:]).max() < 1e-5
    wrong = no_gt.warp_right_to_left(right.astype(np.float32), disparity + 3)
    assert np.nanmean(np.abs(wrong - left)) > 10 * np.nanmean(np.abs(warped - left))


def test_measures_of_an_exact_and_a_wrong_estimate():
    left, right, disparity = _plane()
    valid = np.ones(disparity.shape, bool)
    valid[:, :6] = False
    exact = no_gt.frame_measures(left, right, disparity, left_to_right_disparity(disparity),
                                 valid)
    assert exact['lr_consistency'] == 1.0 and exact['photometric_residual'] < 1e-5
    assert exact['valid_share'] == pytest.approx(90 / 96) and exact['top_invalid_share'] == \
        pytest.approx(6 / 96)
    wrong = disparity.copy()
    wrong[:, 50:] = 20.0
    bad = no_gt.frame_measures(left, right, wrong, left_to_right_disparity(disparity), valid)
    assert bad['lr_consistency'] < 0.6 and bad['photometric_residual'] > 0.01


def test_temporal_change_reads_static_pixels_only():
    left, _, disparity = _plane()
    valid = np.ones(disparity.shape, bool)
    moved = left.copy()
    moved[:, :40] += 0.5  # this part of the view changed: not background
    later = disparity.copy()
    later[:, :40] += 9.0
    assert no_gt.temporal_change((left, disparity, valid), (moved, later, valid)) == 0.0
    later[:, 60:] += 2.0
    assert no_gt.temporal_change((left, disparity, valid), (moved, later, valid)) == 2.0


def test_rank_correlation_and_its_sign():
    assert no_gt.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert no_gt.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert no_gt.rank_correlation([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833)
    assert math.isnan(no_gt.rank_correlation([1, 2], [1, 2]))
    rows = [{'lr_consistency': c, 'photometric_residual': r, 'valid_share': 0.5,
             'top_invalid_share': 0.1, 'temporal_change': math.nan, 'd1': d}
            for c, r, d in ((0.9, 0.01, 5.0), (0.8, 0.02, 10.0), (0.5, 0.05, 30.0))]
    ranked = no_gt.rank_validation(rows)
    # Higher consistency and lower residual both go with lower D1: +1 for both.
    assert ranked['lr_consistency'] == pytest.approx(1.0)
    assert ranked['photometric_residual'] == pytest.approx(1.0)
    assert math.isnan(ranked['valid_share']) and math.isnan(ranked['temporal_change'])


@pytest.fixture(scope='module')
def small_bag(tmp_path_factory):
    pytest.importorskip('rosbags')
    root = tmp_path_factory.mktemp('ms2')
    splits = ms2_writer.write_dataset(str(root), 1, 4, height=48, width=96, max_disparity=16)
    (seq,) = [name for names in splits.values() for name in names]
    out = tmp_path_factory.mktemp('bag') / 'bag'
    m2b.convert_sequence(root, seq, out, progress=False)
    return root, seq, out


def test_bag_pairs_are_the_images_that_were_written(small_bag):
    root, seq, bag = small_bag
    pairs = list(iter_pairs(bag))
    assert len(pairs) == 4
    left_path, right_path = ms2.thermal_paths(str(root), seq, ms2.list_frames(str(root), seq)[0])
    assert np.array_equal(pairs[0].left, ms2.load_thermal(left_path))
    assert np.array_equal(pairs[0].right, ms2.load_thermal(right_path))
    assert [p.stamp_ns for p in pairs] == sorted(p.stamp_ns for p in pairs)


def test_eval_no_gt_on_a_bag(small_bag, tmp_path, capsys):
    _, _, bag = small_bag
    out = tmp_path / 'q.json'
    assert cli.main(['eval', '--no-gt', '--data', 'bag', '--root', str(bag), '--out',
                     str(out), '--no-progress']) == 0
    text = capsys.readouterr().out
    assert 'lr_consistency' in text and 'photometric_residual' in text
    result = json.loads(out.read_text())['results'][str(bag)]
    frames = result['frames']
    assert len(frames) == 4 and result['rank_correlation_with_d1'] is None
    assert math.isnan(frames[0]['temporal_change'])
    assert all(math.isfinite(f['temporal_change']) for f in frames[1:])
    assert all(0.0 <= f['valid_share'] <= 1.0 for f in frames)


def test_eval_bag_without_no_gt_is_refused(small_bag, capsys):
    _, _, bag = small_bag
    assert cli.main(['eval', '--data', 'bag', '--root', str(bag)]) == 2
    assert '--no-gt' in capsys.readouterr().out


def test_eval_no_gt_on_held_out_frames_ranks_them_by_d1(tmp_path):
    out = tmp_path / 'q.json'
    assert cli.main(['eval', '--no-gt', '--split', 'heldout_day', '--max-frames', '4',
                     '--size', '160x64', '--out', str(out), '--no-progress']) == 0
    result = json.loads(out.read_text())['results']['heldout_day']
    assert set(result['rank_correlation_with_d1']) == set(no_gt.MEASURES)
    assert all('d1' in f for f in result['frames'])
