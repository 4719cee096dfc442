# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Round trip: write a tiny MS2 tree with the writer, read it back with the reader."""

import os

import cv2
import numpy as np
import pytest

from thermostereo_ros.data import ms2
from thermostereo_ros.data.ms2_writer import write_dataset


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ms2'))
    splits = write_dataset(root, sequences=3, frames=2, height=64, width=160, seed=11,
                           max_disparity=48)
    return root, splits


def test_splits(tree):
    root, splits = tree
    assert ms2.read_split(root, 'test_day') == splits['test_day']
    assert ms2.read_split(root, 'test_night') == splits['test_night']
    rain = ms2.read_split(root, 'test_rain')
    assert rain == splits['test_rain'] and len(rain) == 1
    assert os.path.isfile(os.path.join(root, 'test_rainy_list.txt'))
    assert ms2.read_split(root, 'train') == []
    seq = rain[0]
    assert seq.startswith('_20') and len(seq) == len('_2021-08-13-21-18-04')
    with pytest.raises(ValueError):
        ms2.read_split(root, 'test_fog')


def test_calibration_and_frames(tree):
    root, splits = tree
    seq = splits['test_day'][0]
    calib = ms2.read_calibration(root, seq)
    assert calib.baseline_m == pytest.approx(0.30)
    assert calib.focal_px == pytest.approx(430.0 * 160 / 640)
    assert calib.K_left.shape == (3, 3) and calib.K_left.dtype == np.float64
    assert {'K_rgbL', 'R_thrR', 'T_nir2thr'} <= set(calib.raw)
    assert ms2.list_frames(root, seq) == ['000000', '000001']
    left_path, right_path = ms2.thermal_paths(root, seq, '000001')
    left = ms2.load_thermal(left_path)
    assert left.dtype == np.uint16 and left.shape == (64, 160) and left.max() < 2 ** 14
    assert ms2.load_thermal(right_path).shape == (64, 160)
    stamps = ms2.read_timestamps(root, seq)
    assert len(stamps) == 2 and stamps[1] > stamps[0]
    pose = ms2.read_odometry(root, seq, '000001')
    assert pose.shape == (4, 4)


def test_depth_to_disparity_matches_renderer(tree):
    from thermostereo_ros.data.synthetic import render_sequence

    root, splits = tree
    seq = splits['test_day'][0]
    calib = ms2.read_calibration(root, seq)
    depth = ms2.load_depth(root, seq, '000000')
    disp = ms2.depth_to_disparity(depth, calib.baseline_m, calib.focal_px)
    from thermostereo_ros.data.synthetic import default_camera
    pair = render_sequence(11, 2, 64, 160, 48, 'day', family='street',   # seq 0: seed 11
                           camera=default_camera(64, 160))[0]
    valid = disp > 0
    np.testing.assert_array_equal(valid, pair.sparse_valid)
    # Depth is stored in 1/256 m steps: at >= 0.3 m that is < 1 % in disparity.
    np.testing.assert_allclose(disp[valid], pair.disparity[valid], rtol=1e-2)
    assert ms2.load_depth(root, seq, '999999') is None


def test_depth_to_disparity_values():
    d = ms2.depth_to_disparity(np.array([0.0, 1e-4, 2.0]), 0.3, 400.0)
    np.testing.assert_allclose(d, [0.0, 0.0, 60.0])


def test_clear_errors(tmp_path):
    with pytest.raises(ms2.MS2FormatError, match='not found'):
        ms2.load_thermal(str(tmp_path / 'missing.png'))
    bad = tmp_path / 'corrupt.png'
    bad.write_bytes(b'not a png')
    with pytest.raises(ms2.MS2FormatError, match='corrupt'):
        ms2.load_thermal(str(bad))
    eight = str(tmp_path / 'eight.png')
    cv2.imwrite(eight, np.zeros((4, 4), np.uint8))
    with pytest.raises(ms2.MS2FormatError, match='16-bit'):
        ms2.load_thermal(eight)
    with pytest.raises(ms2.MS2FormatError, match='calibration not found'):
        ms2.read_calibration(str(tmp_path), 'nope')
    with pytest.raises(ms2.MS2FormatError, match='split list'):
        ms2.read_split(str(tmp_path), 'train')
    with pytest.raises(ms2.MS2FormatError):
        ms2.list_frames(str(tmp_path), 'nope')
    assert ms2.read_timestamps(str(tmp_path), 'nope') is None
