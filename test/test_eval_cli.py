# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo eval` with the SGBM baseline on small held-out-style pairs."""

import json

import numpy as np
import pytest

from thermostereo_ros.cli.main import main
from thermostereo_ros.evaluation.sgbm import fill_invalid_background, SGBMBaseline


def test_eval_cli_sgbm_writes_json_and_table(tmp_path, capsys):
    out = tmp_path / 'results.json'
    rc = main(['eval', '--data', 'synthetic', '--split', 'heldout_day,heldout_rain',
               '--baseline', 'sgbm', '--no-network', '--max-frames', '1', '--size', '240x96',
               '--max-disparity', '64', '--out', str(out), '--no-progress', '--edges'])
    assert rc == 0
    text = capsys.readouterr().out
    assert '| split | method |' in text and '| heldout_day | sgbm | 1 |' in text
    data = json.loads(out.read_text())
    m = data['results']['heldout_rain']['sgbm']
    assert m['frames'] == 1 and m['pixels'] > 1000
    assert 0 <= m['epe'] < 64 and 0 <= m['d1'] <= 100 and 'abs_rel' in m
    edges = data['results']['heldout_rain']['sgbm@edges']
    assert 0 < edges['pixels'] < m['pixels']  # a subset: the pixels near depth edges


def test_disparity_ranges_partition_the_gt_pixels(tmp_path):
    out = tmp_path / 'results.json'
    rc = main(['eval', '--split', 'heldout_day', '--baseline', 'sgbm', '--no-network',
               '--max-frames', '1', '--size', '240x96', '--max-disparity', '64',
               '--disparity-ranges', '0,4,16,64', '--out', str(out), '--no-progress'])
    assert rc == 0
    results = json.loads(out.read_text())['results']['heldout_day']
    parts = [results[f'sgbm@gt[{lo},{hi})'] for lo, hi in ((0, 4), (4, 16), (16, 64))]
    # Every scored GT pixel (0 < GT < 64) falls in exactly one range.
    assert sum(p['pixels'] for p in parts) == results['sgbm']['pixels']
    assert all(p['pixels'] > 0 for p in parts)
    # The pixel-weighted EPE of the parts is the whole split's EPE.
    weighted = sum(p['epe'] * p['pixels'] for p in parts) / results['sgbm']['pixels']
    assert abs(weighted - results['sgbm']['epe']) < 1e-3


@pytest.mark.parametrize('value', ['8', '0,8,8', '16,8', 'a,b', '-1,4'])
def test_bad_disparity_ranges_are_named(value, capsys):
    with pytest.raises(SystemExit):
        main(['eval', '--no-network', '--baseline', 'sgbm', '--disparity-ranges', value])
    assert '--disparity-ranges' in capsys.readouterr().err


def test_eval_without_checkpoint_scores_the_shipped_weights(tmp_path, capsys):
    from thermostereo_ros.inference import default_checkpoint
    out = tmp_path / 'results.json'
    rc = main(['eval', '--split', 'heldout_flying', '--max-frames', '2', '--size', '160x64',
               '--out', str(out), '--no-progress', '--confidence', '0,0.99'])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data['checkpoint'] == str(default_checkpoint())
    assert data['renderer_version'] == {'heldout_flying': 2}   # the plain names are v2's
    results = data['results']['heldout_flying']
    network = results['network']
    assert network['frames'] >= 1 and np.isfinite(network['epe'])
    assert '| heldout_flying | network |' in capsys.readouterr().out
    everything, confident = results['network@conf>=0'], results['network@conf>=0.99']
    assert everything['coverage'] == 1.0 and everything['epe'] == network['epe']
    assert confident['coverage'] < 1.0 and confident['pixels'] < network['pixels']


def test_sgbm_on_textured_shift():
    rng = np.random.default_rng(0)
    import cv2
    tex = cv2.GaussianBlur(rng.uniform(0, 4000, (64, 200)).astype(np.float32), (0, 0), 1.0)
    left, right = tex[:, 20:180], tex[:, 30:190]  # right(x - 10) = left(x)
    disp = SGBMBaseline(max_disparity=32).compute(left.astype(np.uint16),
                                                  right.astype(np.uint16))
    assert disp.dtype == np.float32 and disp.shape == left.shape
    assert np.median(np.abs(disp[16:-16, 48:-16] - 10)) < 0.5


def test_background_fill_takes_farther_neighbour():
    d = np.array([[5.0, -1, -1, 9.0, -1, 2.0, -1]])
    filled = fill_invalid_background(d, d >= 0)
    np.testing.assert_array_equal(filled, [[5, 5, 5, 9, 2, 2, 2]])


@pytest.mark.parametrize('version,split', [(None, 'validation_v3'), (2, 'validation')])
def test_validation_split_is_what_training_validates_on(version, split):
    from thermostereo_ros.evaluation.evaluate import iter_frames
    from thermostereo_ros.training.config import load_config
    from thermostereo_ros.training.run_data import make_datasets
    config = load_config(None, {'data': {'height': 64, 'width': 160,
                                         'renderer_version': version},
                                'max_disparity': 192, 'log': {'val_pairs': 4}})
    _, validation = make_datasets(config)
    frames = list(iter_frames('synthetic', None, split, 4, 192, (64, 160)))
    assert len(frames) == len(validation) == 4
    for frame, sample in zip(frames, validation):
        dense = np.asarray(sample['valid_dense']).reshape(frame.mask.shape)
        np.testing.assert_array_equal(frame.mask, dense)
        np.testing.assert_allclose(frame.disparity[dense],
                                   np.asarray(sample['disparity']).reshape(dense.shape)[dense])
    nights = list(iter_frames('synthetic', None, 'validation_night', 4, 64, (64, 160)))
    assert nights and all(f.name.startswith('night/') for f in nights)


def test_sky_pixels_given_a_disparity_are_counted_as_the_node_would_publish_them():
    from thermostereo_ros.evaluation.evaluate import evaluate_split, EvalFrame

    h, w = 4, 50
    gt = np.full((h, w), 10.0, np.float32)
    sky = np.zeros((h, w), bool)
    sky[:2] = True  # 100 sky pixels
    gt[sky] = 0.0
    pred = np.full((h, w), 10.0, np.float32)
    pred[0, 10:] = 2.0    # 40 sky pixels at fB / 2 = 50 m: points
    pred[1, 10:30] = 0.5  # 20 at 200 m: a disparity, but beyond the points' 100 m
    pred[1, 30:] = -1.0   # 20 invalid (SGBM's marker)
    pred[0, :10] = 0.0    # 10 at infinity; and pred[1, :10] = 10 at x < 10: no match, invalid
    frame = EvalFrame('f', gt, gt, gt, ~sky, focal_px=100.0, baseline_m=1.0, sky=sky)
    result = evaluate_split({'m': lambda left, right: pred}, iter([frame]), 192)['m']
    assert result['sky_valid'] == pytest.approx(0.60)
    assert result['sky_points'] == pytest.approx(0.40)
    no_sky = evaluate_split({'m': lambda left, right: pred},
                            iter([EvalFrame('f', gt, gt, gt, ~sky)]), 192)['m']
    assert 'sky_valid' not in no_sky


def test_sky_is_counted_only_for_the_methods_asked():
    from thermostereo_ros.evaluation.evaluate import evaluate_split, EvalFrame

    gt = np.zeros((4, 40), np.float32)
    sky = np.ones((4, 40), bool)
    frame = EvalFrame('f', gt, gt, gt, ~sky, sky=sky)
    methods = {'a': lambda left, right: gt + 30, 'b': lambda left, right: gt + 30}
    result = evaluate_split(methods, iter([frame]), 192, sky_methods=('a',))
    assert result['a']['sky_valid'] == pytest.approx(0.25)  # x >= 30 of 40 columns match
    assert 'sky_valid' not in result['b']


def test_lr_check_scores_what_it_keeps_and_counts_its_sky(tmp_path):
    out = tmp_path / 'lr.json'
    assert main(['eval', '--split', 'heldout_day', '--max-frames', '3', '--size',
                 '160x64', '--lr-check', '1', '--out', str(out), '--no-progress']) == 0
    results = json.loads(out.read_text())['results']['heldout_day']
    kept = results['network+lr@kept']
    assert 0.0 < kept['coverage'] < 1.0
    assert kept['pixels'] < results['network']['pixels']
    # The check only removes pixels: never more sky than without it.
    assert results['network+lr']['sky_valid'] <= results['network']['sky_valid']
