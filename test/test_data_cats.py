# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CATS reader on a tiny fake tree in the release format, with a negative min disparity."""

import os

import cv2
import numpy as np
import pytest

from thermostereo_ros.data import cats


@pytest.fixture
def tree(tmp_path):
    scene = tmp_path / 'OUTDOOR' / 'CARS' / 'scene1'
    rect = scene / 'rectified' / 'thermal'
    gt_dir = scene / 'gt_disparity' / 'thermal'
    os.makedirs(rect)
    os.makedirs(gt_dir)
    rng = np.random.default_rng(0)
    h, w = 24, 64
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (h, w + 16)).astype(np.float32), (0, 0), 1)
    # Constant true disparity -3: left(x) = right(x + 3).
    left = texture[:, 8:8 + w]
    right = texture[:, 5:5 + w]
    cv2.imwrite(str(rect / 'left_thermal_default.png'), left.astype(np.uint8))
    cv2.imwrite(str(rect / 'right_thermal_default.png'), right.astype(np.uint8))
    mask = np.full((h, w), 255, np.uint8)
    mask[:, :4] = 0
    cv2.imwrite(str(rect / 'mask.png'), mask)
    gt = np.full((h, w), -3.0)
    gt[0, :] = np.nan
    np.savetxt(gt_dir / 'gt_disparity.txt', gt, delimiter=',', fmt='%.4f')
    (gt_dir / 'disp_range.txt').write_text('-3.5,2\n')
    return str(tmp_path)


def test_list_and_load(tree):
    assert cats.list_scenes(tree) == ['OUTDOOR/CARS/scene1']
    assert cats.hazards(tree, 'OUTDOOR/CARS/scene1') == ['default']
    s = cats.load_scene(tree, 'OUTDOOR/CARS/scene1')
    assert s.left.shape == s.disparity.shape == (24, 64)
    assert not s.valid[0].any() and not s.valid[:, :4].any() and s.valid[1:, 4:].all()
    assert s.disparity[0, 10] == 0 and s.disparity[5, 10] == pytest.approx(-3.0)
    assert (s.disp_min, s.disp_max) == (-3.5, 2.0)
    assert s.offset == 4


def test_offset_makes_disparity_positive(tree):
    s = cats.load_scene(tree, 'OUTDOOR/CARS/scene1')
    shifted = cats.shift_right(s.right, s.offset).astype(float)
    d = s.disparity[5, 20] + s.offset  # 1 px after the shift
    assert d == pytest.approx(1.0)
    np.testing.assert_allclose(s.left[5, 20:50], shifted[5, 19:49], atol=1)


def test_missing_files(tmp_path):
    with pytest.raises(cats.CATSFormatError):
        cats.load_scene(str(tmp_path), 'OUTDOOR/CARS/scene9')
    assert cats.list_scenes(str(tmp_path)) == []
