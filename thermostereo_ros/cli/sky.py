# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo sky-head`: add a trained sky head to a student checkpoint.

    thermostereo sky-head --checkpoint IN.safetensors --cache DIR --out OUT.safetensors

The rest of the network is frozen (`training/sky.py`): OUT outputs what IN does, except
disparity 0 and confidence 0 where the head calls the pixel sky. Its sky recall and the
share of surface pixels it calls sky are scored on the validation pairs and printed.
"""

import argparse
import json
import pathlib
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the sky-head options."""
    parser.add_argument('--checkpoint', type=pathlib.Path, required=True,
                        help='trained ThermoStereoRT checkpoint (.safetensors) without a sky head')
    parser.add_argument('--cache', required=True,
                        help='training cache (`thermostereo synth --cache`) with sky masks')
    parser.add_argument('--out', type=pathlib.Path, required=True, help='checkpoint to write')
    parser.add_argument('--steps', type=int, default=3000,
                        help='training steps (default 3000, as the shipped head)')
    parser.add_argument('--batch-size', type=int, default=8, help='pairs a step (default 8)')
    parser.add_argument('--crop', default='384x160',
                        help='training crop, WIDTHxHEIGHT (default 384x160); at most the '
                             "cache's frame size")
    parser.add_argument('--validation-pairs', type=int, default=24,
                        help='validation pairs to score the head on (0: none)')


def run(args: argparse.Namespace) -> int:
    """Train, score and write; 1 with one line on a bad checkpoint or cache."""
    import torch

    from thermostereo_ros.data.heldout import validation_pairs
    from thermostereo_ros.geometry.image_size import parse_size
    from thermostereo_ros.inference.checkpoint import (
        build_student, CheckpointError, save_checkpoint)
    from thermostereo_ros.training.sky import SkyRecipe, sky_scores, train_sky_head, with_sky_head
    from thermostereo_ros.training.trainer import weights_digest

    try:
        model, meta = build_student(args.checkpoint, 'takes a sky head')
        started_from = {'path': str(args.checkpoint), 'digest': weights_digest(model)}
        model = with_sky_head(model)
        if min(args.steps, args.batch_size) < 1:
            raise ValueError(f'--steps and --batch-size must be at least 1, got {args.steps} '
                             f'and {args.batch_size}')
        run_info = train_sky_head(model, args.cache, SkyRecipe(
            steps=args.steps, batch_size=args.batch_size, crop=parse_size(args.crop, '--crop')))
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f'sky-head: error: {exc}', file=sys.stderr)
        return 1
    if args.validation_pairs > 0:
        run_info['validation'] = sky_scores(model, validation_pairs(args.validation_pairs))
        print('validation: ' + json.dumps(run_info['validation']), flush=True)
    provenance = dict(meta.get('provenance', {}), sky_head=dict(
        run_info, started_from=started_from, torch=torch.__version__))
    save_checkpoint(args.out, model, arch='thermostereo_rt', config=model.config,
                    normalization=meta.get('normalization', {}), provenance=provenance)
    print(f'wrote {args.out}', flush=True)
    return 0
