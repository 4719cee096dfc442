# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Training: losses, resumable state, and two-process DDP (gloo on CPU) ending in equal weights."""

import json
import pathlib
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from thermostereo_ros.training.config import load_config
from thermostereo_ros.training.losses import distillation_loss, masked_smooth_l1, scale_weights
from thermostereo_ros.training.trainer import train

TINY = {
    'arch': 'thermostereo_rt',
    'model': {'base_channels': 8, 'feature_channels': 16, 'aggregation_channels': 16,
              'refinement_channels': 8},
    'max_disparity': 48,
    'device': 'cpu',
    'data': {'height': 64, 'width': 160, 'crop': [64, 128], 'num_workers': 0,
             'train_seeds': 40},
    'optim': {'steps': 4, 'batch_size': 2, 'warmup_steps': 2},
    'log': {'log_every': 2, 'checkpoint_every': 2, 'image_every': 2, 'val_pairs': 1},
}


def _config(out_dir, **overrides):
    config = json.loads(json.dumps(TINY))
    config['log']['out_dir'] = str(out_dir)
    for key, value in overrides.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return load_config(None, config)


def test_masked_smooth_l1_hand_computed():
    pred = torch.tensor([[0.0, 2.0, 5.0]])
    target = torch.tensor([[0.5, 0.0, 5.0]])
    mask = torch.tensor([[True, True, False]])
    # smooth-L1 (beta 1): 0.5 * 0.5^2 = 0.125 and |2| - 0.5 = 1.5 -> mean 0.8125.
    assert masked_smooth_l1(pred, target, mask).item() == pytest.approx(0.8125)
    assert masked_smooth_l1(pred, target, torch.zeros_like(mask)).item() == 0.0


def test_scale_weights_favour_final_prediction():
    weights = scale_weights(3)
    assert weights[-1] == 1.0 and weights[0] < weights[1] < weights[2]


def test_distillation_weighted_by_teacher_confidence():
    pred = [torch.full((1, 1, 1, 2), 4.0)]
    teacher = torch.tensor([[[[2.0, 6.0]]]])
    confident = distillation_loss(pred, teacher, torch.tensor([[[[1.0, 0.0]]]]), 48)
    # Only the first pixel counts: |4 - 2| - 0.5 = 1.5.
    assert confident.item() == pytest.approx(1.5)


def test_unknown_config_key_is_an_error(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('optim: {stepz: 3}\n')
    with pytest.raises(KeyError, match='stepz'):
        load_config(path)


def test_resume_reproduces_uninterrupted_run(tmp_path):
    straight = train(_config(tmp_path / 'straight'), progress=False)
    state = train(_config(tmp_path / 'resumed'), progress=False, stop_at=2)
    assert state.name == 'state.safetensors'
    assert not (tmp_path / 'resumed' / 'final.safetensors').exists()
    resumed = train(_config(tmp_path / 'resumed'), resume=True, progress=False)
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    meta = json.loads((tmp_path / 'straight' / 'provenance.json').read_text())
    assert meta['steps'] == 4 and meta['supervision'] == 'sparse'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_ddp_two_ranks_end_with_identical_weights(tmp_path):
    import yaml
    config = _config(tmp_path / 'ddp')
    config_path = tmp_path / 'ddp.yaml'
    config_path.write_text(yaml.safe_dump(config))
    init = train(_config(tmp_path / 'init', optim={'steps': 0}), progress=False)
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_addr', '127.0.0.1', '--master_port', str(_free_port()),
         '-m', 'thermostereo_ros.cli.main', 'train', '--config', str(config_path),
         '--no-progress'],
        capture_output=True, text=True, timeout=240, cwd=pathlib.Path(__file__).parents[1])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    digests = json.loads((tmp_path / 'ddp' / 'rank_digests.json').read_text())
    assert len(digests) == 2 and digests[0] == digests[1]
    # The ranks did train: the weights moved away from the shared initialisation.
    before = load_file(str(init))
    after = load_file(str(tmp_path / 'ddp' / 'final.safetensors'))
    moved = sum(float((after[k] - before[k]).abs().sum()) for k in before
                if before[k].is_floating_point() and 'running' not in k)
    assert moved > 0
