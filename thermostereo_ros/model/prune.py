# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Channel pruning of the student's hourglass: a narrower network that starts from trained weights.

The hourglass holds most of the student's convolution time, and its width (a, 2a, 4a channels
at 1/4, 1/8, 1/16) sets it. Pruning keeps, in every group of channels that must stay aligned,
those with the largest batch-norm scales |gamma| (network slimming, Liu et al., ICCV 2017) and
copies their weights into a network built with the smaller width; fine-tuning then recovers
what the dropped channels carried. Groups: a residual sum (y8 + x8, y4 + x4) and a
feature-excitation gate tie the channels they combine, so each is chosen once.
"""

from typing import Dict, Optional, Tuple

import torch
from torch import nn

from thermostereo_ros.model.student import ThermoStereoRT

# Each convolution of AttentionHourglass as (input group, output group), by module path; the
# batch norm after a convolution follows its output group. None: not pruned (the D cost
# channels, the guide features).
_CONVS: Dict[str, Tuple[Optional[str], Optional[str]]] = {
    'stem.0.0': (None, 'stem'), 'stem.1.0': ('stem', 'x4'),
    'exc4_in.gate.3': (None, 'x4'),
    'down8.0.0': ('x4', 'down8'), 'down8.1.0': ('down8', 'x8'),
    'exc8_in.gate.3': (None, 'x8'),
    'down16.0.0': ('x8', 'down16'), 'down16.1.0': ('down16', 'x16'),
    'exc16.gate.3': (None, 'x16'),
    'up8.0': ('x16', 'x8'), 'fuse8.0': ('x8', 'y8'), 'exc8_out.gate.3': (None, 'y8'),
    'up4.0': ('y8', 'x4'), 'fuse4.0': ('x4', 'y4'), 'exc4_out.gate.3': (None, 'y4'),
    'head': ('y4', None), 'stem_head': ('x4', None),
}
# Width of each group in units of the hourglass width a.
_MULTIPLE = {'stem': 1, 'x4': 1, 'y4': 1, 'down8': 2, 'x8': 2, 'y8': 2, 'down16': 4,
             'x16': 4}


def _bn_name(conv: str) -> str:
    """Where a conv_bn_relu's batch norm would be ('x.0' -> 'x.1'); the caller checks it is."""
    head, _, index = conv.rpartition('.')
    return f'{head}.{int(index) + 1}' if index.isdigit() else conv + '.bn'


def _keep(aggregation: nn.Module, channels: int) -> Dict[str, torch.Tensor]:
    """Choose each group's channels: the largest |gamma| summed over the group's batch norms."""
    modules = dict(aggregation.named_modules())
    scores: Dict[str, torch.Tensor] = {}
    for conv, (_, out_group) in _CONVS.items():
        bn = modules.get(_bn_name(conv)) if out_group else None
        if out_group is not None and isinstance(bn, nn.BatchNorm2d):
            score = bn.weight.detach().abs()
            scores[out_group] = scores.get(out_group, 0) + score
    keep = {}
    for group, multiple in _MULTIPLE.items():
        count = multiple * channels
        # Sorted indices keep the surviving channels in their original order.
        keep[group] = torch.sort(torch.topk(scores[group], count).indices).values
    return keep


def prune_aggregation(model: ThermoStereoRT, channels: int) -> ThermoStereoRT:
    """Return a copy of `model` whose hourglass is `channels` wide, from its strongest channels.

    With `channels` equal to the current width the copy computes exactly what `model` does.
    """
    width = model.config['aggregation_channels']
    if not 0 < channels <= width:
        raise ValueError(f'aggregation channels must be in 1..{width}, got {channels}')
    pruned = ThermoStereoRT(**dict(model.config, aggregation_channels=channels))
    source = model.state_dict()
    target = pruned.state_dict()
    keep = _keep(model.aggregation, channels)
    sliced: Dict[str, torch.Tensor] = {}
    for conv, (in_group, out_group) in _CONVS.items():
        prefix = f'aggregation.{conv}.'
        rows = keep[out_group] if out_group else None
        cols = keep[in_group] if in_group else None
        weight = source[prefix + 'weight']
        if rows is not None:
            weight = weight[rows]
        if cols is not None:
            weight = weight[:, cols]
        sliced[prefix + 'weight'] = weight
        if prefix + 'bias' in source:
            bias = source[prefix + 'bias']
            sliced[prefix + 'bias'] = bias[rows] if rows is not None else bias
        bn = f'aggregation.{_bn_name(conv)}.'
        if out_group and bn + 'running_mean' in source:
            for name in ('weight', 'bias', 'running_mean', 'running_var'):
                sliced[bn + name] = source[bn + name][rows]
            sliced[bn + 'num_batches_tracked'] = source[bn + 'num_batches_tracked']
    for name in target:
        value = sliced.get(name, source[name])
        if value.shape != target[name].shape:
            raise RuntimeError(f'pruning left {name} at {tuple(value.shape)}, the narrower '
                               f'network needs {tuple(target[name].shape)}')
        target[name] = value.clone()
    pruned.load_state_dict(target)
    return pruned.train(model.training)
