# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Hourglass pruning: exact when nothing is dropped, exact when the dropped channels are dead."""

import copy
import subprocess
import sys

import pytest
import torch

from thermostereo_ros.model import ThermoStereoRT
from thermostereo_ros.model.prune import _CONVS, _bn_name, _keep, prune_aggregation

CONFIG = dict(max_disparity=48, base_channels=8, feature_channels=16, aggregation_channels=12,
              refinement_channels=8, normalize_features=True)


def _model() -> ThermoStereoRT:
    torch.manual_seed(0)
    model = ThermoStereoRT(**CONFIG)
    # Trained-looking batch norms: unequal scales, so the choice of channels matters.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.weight.uniform_(0.1, 2.0)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _pair():
    gen = torch.Generator().manual_seed(1)
    left = torch.rand(1, 1, 64, 96, generator=gen)
    return left, torch.roll(left, -3, dims=3)


def test_pruning_to_the_same_width_changes_nothing():
    model = _model()
    with torch.no_grad():
        torch.testing.assert_close(prune_aggregation(model, 12).eval()(*_pair())[0],
                                   model(*_pair())[0], rtol=0, atol=0)


def test_pruned_network_computes_what_the_original_does_without_the_dropped_channels():
    model = _model()
    keep = _keep(model.aggregation, 8)
    modules = dict(model.aggregation.named_modules())
    silenced = copy.deepcopy(model)
    silent_modules = dict(silenced.aggregation.named_modules())
    for conv, (_, group) in _CONVS.items():
        if group and isinstance(modules.get(_bn_name(conv)), torch.nn.BatchNorm2d):
            bn = silent_modules[_bn_name(conv)]
            dropped = torch.ones(bn.weight.numel(), dtype=torch.bool)
            dropped[keep[group]] = False
            with torch.no_grad():  # ReLU(BN) is then 0 there: the channel carries nothing
                bn.weight[dropped] = 0.0
                bn.bias[dropped] = 0.0
    pruned = prune_aggregation(silenced, 8).eval()
    assert pruned.config['aggregation_channels'] == 8
    assert sum(p.numel() for p in pruned.parameters()) < \
        sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        expected, got = silenced(*_pair())[0], pruned(*_pair())[0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)
    # And the silenced channels did matter in the original: this test can fail.
    with torch.no_grad():
        assert (model(*_pair())[0] - expected).abs().max() > 1e-2


def test_prune_cli_writes_a_checkpoint_of_the_narrower_network(tmp_path):
    from thermostereo_ros.inference.checkpoint import build_from_checkpoint, save_checkpoint
    source = tmp_path / 'wide.safetensors'
    save_checkpoint(source, _model(), 'thermostereo_rt', dict(CONFIG),
                    {'mode': 'joint', 'low': 1.0, 'high': 99.0}, {'steps': 7})
    out = tmp_path / 'narrow.safetensors'
    command = [sys.executable, '-m', 'thermostereo_ros.cli.main', 'prune', '--checkpoint',
               str(source), '--aggregation-channels']
    proc = subprocess.run(command + ['8', '--out', str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    model, meta = build_from_checkpoint(out)
    assert model.config['aggregation_channels'] == 8
    assert meta['provenance']['pruned_from']['provenance'] == {'steps': 7}
    proc = subprocess.run(command + ['13', '--out', str(tmp_path / 'x.safetensors')],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and 'must be in 1..12' in proc.stderr


@pytest.mark.parametrize('channels', [0, 13])
def test_pruning_outside_the_current_width_is_refused(channels):
    with pytest.raises(ValueError, match='1..12'):
        prune_aggregation(_model(), channels)
