# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The sky head: it changes the output only where it calls sky, exports, and trains alone."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from thermostereo_ros.data import cache
from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.data.synthetic import render_pair
from thermostereo_ros.inference import save_checkpoint, StereoEngine
from thermostereo_ros.inference.checkpoint import build_from_checkpoint
from thermostereo_ros.inference.shifted_texture import synthetic_pair
from thermostereo_ros.model import ThermoStereoRT
from thermostereo_ros.training.sky_head import (
    fold_threshold, sky_scores, sky_sweep, SkyRecipe, sky_labels, train_sky_head, with_sky_head)
from thermostereo_ros.training.trainer import weights_digest

CONFIG = dict(max_disparity=32, base_channels=4, feature_channels=8, aggregation_channels=8,
              refinement_channels=4, normalize_features=True)
H, W = 160, 384  # the cache's pairs: the CLI's default crop must fit


def _pair(height=48, width=96):
    # Normalised as the engine does, so that the head's calibration below carries over.
    left, right = normalize_pair(*synthetic_pair(height, width, disparity=5), mode='joint')
    return torch.from_numpy(left)[None, None], torch.from_numpy(right)[None, None]


def _half_sky() -> ThermoStereoRT:
    """A network whose untrained head calls about half of the test pair sky."""
    torch.manual_seed(0)
    model = with_sky_head(ThermoStereoRT(**CONFIG)).eval()
    with torch.no_grad():
        model.sky.logit.bias -= model.sky_logits(_pair()[0]).median()
    return model


@pytest.fixture(scope='module')
def sky_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp('sky_cache')
    cache.write_cache(str(root), 2, H, W, 32, first_seed=3, workers=1)
    return root


def test_the_output_changes_only_where_the_head_calls_sky():
    model = _half_sky()
    plain = ThermoStereoRT(**CONFIG).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith('sky.')})
    left, right = _pair()
    with torch.no_grad():
        (disparity, confidence), (expected, expected_conf) = model(left, right), plain(left, right)
        logits = model.sky_logits(left)
    sky, surface = logits > 1e-4, logits < -1e-4
    assert 0.2 < float(sky.float().mean()) < 0.8  # both kinds of pixel are tested
    assert (disparity[sky] == 0).all() and (confidence[sky] == 0).all()
    torch.testing.assert_close(disparity[surface], expected[surface], rtol=0, atol=1e-5)
    torch.testing.assert_close(confidence[surface], expected_conf[surface], rtol=0, atol=1e-6)
    assert (expected[sky] > 0).any()  # the head did replace something


def test_a_network_without_the_head_builds_and_refuses_a_second():
    plain = ThermoStereoRT(**CONFIG)
    assert plain.sky is None and plain.config['sky_head'] is False
    with pytest.raises(ValueError, match='without a sky head'):
        plain.sky_logits(_pair()[0])
    with pytest.raises(ValueError, match='already has'):
        with_sky_head(with_sky_head(plain))


def test_sky_labels_are_supervised_sky_against_surfaces():
    disparity = torch.tensor([[0.0, 0.0, 3.5, 0.0]])
    valid = torch.tensor([[True, False, True, False]])
    target, scored = sky_labels(disparity, valid)
    assert scored.tolist() == [[True, False, True, False]]
    assert target[scored].tolist() == [1.0, 0.0]


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_the_head_exports(tmp_path, backend):
    pytest.importorskip(backend)
    pytest.importorskip('onnx')
    model = _half_sky()
    path = save_checkpoint(tmp_path / 'sky.safetensors', model, 'thermostereo_rt', model.config,
                           {'mode': 'joint'}, {'test': True})
    left, right = synthetic_pair(48, 96, disparity=5)
    ref = StereoEngine.from_checkpoint(path, device='cpu', precision='fp32').infer(left, right)
    got = StereoEngine.from_checkpoint(path, backend=backend, precision='fp32').infer(left, right)
    sky = ref.confidence == 0
    assert 0.1 < sky.mean() < 0.9
    # Pixels at the head's decision boundary may fall either way in another runtime's
    # summation order; anything beyond a few of them is a wrong export.
    differ = np.abs(got.disparity - ref.disparity) > 1e-3
    assert differ.mean() < 0.01, differ.mean()
    assert ((got.confidence == 0) == sky).mean() > 0.99


def test_a_folded_threshold_moves_the_decision_only():
    model, (left, right) = _half_sky(), _pair()
    with torch.no_grad():
        before = model.sky_logits(left)
        threshold = float(before.quantile(0.75))  # then about a quarter stays sky
        fold_threshold(model, threshold)
        after = model.sky_logits(left)
        disparity, confidence = model(left, right)
    assert torch.allclose(after, before - threshold, atol=1e-5)
    sky = after[0, 0] > 0
    assert 0.15 < sky.float().mean() < 0.35
    assert torch.all(disparity[0, 0][sky] == 0) and torch.all(confidence[0, 0][sky] == 0)


def test_the_sweep_counts_every_pixel_at_the_extremes():
    model = _half_sky()
    pairs = [render_pair(11, 64, 160, 32, 'day')]
    low, zero, high = sky_sweep(model, pairs, (-1e9, 0.0, 1e9))
    assert low['sky_pixels'] > 0 and low['surface_pixels'] > 0
    assert low['sky_recall'] == low['surface_called_sky'] == 1.0
    assert high['sky_recall'] == high['surface_called_sky'] == 0.0
    assert high['near_surface_called_sky'] == 0.0
    assert sky_scores(model, pairs) == {k: v for k, v in zero.items() if k != 'threshold'}


def test_training_moves_the_head_and_nothing_else(sky_cache):
    torch.manual_seed(0)
    model = with_sky_head(ThermoStereoRT(**CONFIG))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recipe = SkyRecipe(steps=3, batch_size=2, crop=(64, 128), workers=0)
    info = train_sky_head(model, str(sky_cache), recipe, log_every=0)
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith('sky.') for k in moved)
    assert any(k.startswith('sky.logit') for k in moved)
    assert info['steps'] == 3 and np.isfinite(info['final_loss']) and not model.training


def test_training_takes_the_cores_left_by_the_loader(sky_cache, monkeypatch):
    from thermostereo_ros.inference.cpu_features import cpu_info
    from thermostereo_ros.training.trainer import available_cores
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = with_sky_head(ThermoStereoRT(**CONFIG))
        recipe = SkyRecipe(steps=1, batch_size=2, crop=(64, 128), workers=0)
        info = train_sky_head(model, str(sky_cache), recipe, log_every=0)
    finally:
        torch.set_num_threads(before)
    assert info['threads'] == available_cores()  # no loader process: every core
    assert info['cpu'] == cpu_info().summary()


def test_cli_adds_a_head_once_and_names_a_short_cache(tmp_path, sky_cache):
    torch.manual_seed(0)
    plain = ThermoStereoRT(**CONFIG)
    source = save_checkpoint(tmp_path / 'plain.safetensors', plain, 'thermostereo_rt',
                             plain.config, {'mode': 'joint'}, {'steps': 7})
    out = tmp_path / 'sky.safetensors'

    def sky_head(checkpoint, *extra):
        return subprocess.run(
            [sys.executable, '-m', 'thermostereo_ros.cli.main', 'sky-head', '--cache',
             str(sky_cache), '--steps', '2', '--validation-pairs', '0', '--checkpoint',
             str(checkpoint), '--out', str(out), *extra], capture_output=True, text=True)

    proc = sky_head(source, '--batch-size', '2', '--crop', '128x64')
    assert proc.returncode == 0, proc.stderr
    model, meta = build_from_checkpoint(out)
    assert model.config['sky_head'] is True and meta['provenance']['steps'] == 7
    assert meta['provenance']['sky_head']['steps'] == 2
    assert meta['provenance']['sky_head']['crop'] == [64, 128]
    assert meta['provenance']['sky_head']['started_from'] == {
        'path': str(source), 'digest': weights_digest(plain)}
    proc = sky_head(out, '--batch-size', '2')
    assert proc.returncode == 1 and 'already has a sky head' in proc.stderr
    # --steps 0 moves an existing head's threshold, and adds it to the one recorded.
    moved = tmp_path / 'moved.safetensors'
    for threshold, start, total in (('0.5', out, 0.5), ('-0.25', moved, 0.25)):
        proc = sky_head(start, '--steps', '0', '--threshold', threshold, '--out', str(moved))
        assert proc.returncode == 0, proc.stderr
        _, moved_meta = build_from_checkpoint(moved)
        assert moved_meta['provenance']['sky_head']['threshold'] == total
        assert moved_meta['provenance']['sky_head']['crop'] == [64, 128]
        assert 'validation' not in moved_meta['provenance']['sky_head']  # none was scored
    trained, _ = build_from_checkpoint(out)
    shifted, _ = build_from_checkpoint(moved)
    assert torch.allclose(shifted.sky.logit.bias, trained.sky.logit.bias - 0.25)
    proc = sky_head(source, '--steps', '0')
    assert proc.returncode == 1 and 'has no sky head, so --steps 0' in proc.stderr
    proc = sky_head(out, '--steps', '0', '--sweep', '0,x')
    assert proc.returncode == 1 and "--sweep='0,x' is not a comma-separated" in proc.stderr
    proc = sky_head(source, '--batch-size', '2', '--crop', f'{W + 32}x{H}')
    assert proc.returncode == 1 and f'crop {W + 32}x{H} is larger than the cached frames' \
        in proc.stderr
    proc = sky_head(source, '--crop', '384')
    assert proc.returncode == 1 and "--crop='384' is not WIDTHxHEIGHT" in proc.stderr
    proc = sky_head(source)  # the default batch of 8 from a cache of 2 pairs
    assert proc.returncode == 1 and '2 cached pairs, fewer than a batch of 8' in proc.stderr


def test_only_a_student_takes_a_sky_head(tmp_path):
    from thermostereo_ros.inference.checkpoint import build_student, CheckpointError
    from thermostereo_ros.model import build_model
    teacher = build_model('teacher', dict(max_disparity=32, base_channels=4, feature_channels=8,
                                          groups=2, concat_channels=2, volume_channels=4,
                                          refinement_channels=8))
    path = save_checkpoint(tmp_path / 'teacher.safetensors', teacher, 'teacher', teacher.config,
                           {'mode': 'joint'}, {})
    with pytest.raises(CheckpointError, match="takes a sky head, this is a 'teacher'"):
        build_student(path, 'takes a sky head')
