# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo prune`: a narrower student checkpoint from a trained one, to fine-tune.

    thermostereo prune --checkpoint IN.safetensors --aggregation-channels 32 --out OUT.safetensors

The output starts a training run through the config's `init` (with the same
`model.aggregation_channels`); it is not meant to be used before fine-tuning.
"""

import argparse
import pathlib
import sys

from thermostereo_ros.inference.checkpoint import CheckpointError
from thermostereo_ros.training.recipe import prune_checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the prune options."""
    parser.add_argument('--checkpoint', type=pathlib.Path, required=True,
                        help='trained ThermoStereoRT checkpoint (.safetensors)')
    parser.add_argument('--aggregation-channels', type=int, required=True,
                        help='hourglass width of the pruned network (the shipped one: 48)')
    parser.add_argument('--out', type=pathlib.Path, required=True, help='checkpoint to write')


def run(args: argparse.Namespace) -> int:
    """Prune and write the checkpoint; 1 with one line on a bad checkpoint or width."""
    try:
        pruned = prune_checkpoint(args.checkpoint, args.aggregation_channels, args.out)
    except (CheckpointError, ValueError) as exc:
        print(f'prune: error: {exc}', file=sys.stderr)
        return 1
    params = sum(p.numel() for p in pruned.parameters())
    print(f'wrote {args.out}: hourglass pruned to {args.aggregation_channels} channels, '
          f'{params:,} parameters', flush=True)
    return 0
