# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo sky-head`: add a trained sky head to a student checkpoint.

    thermostereo sky-head --checkpoint IN.safetensors --cache DIR --out OUT.safetensors
    thermostereo sky-head --checkpoint OUT.safetensors --steps 0 --sweep 0,1,2 \
        --threshold 1.5 --out OUT2.safetensors

The rest of the network is frozen (`training/sky_head.py`): OUT outputs what IN does, except
disparity 0 and confidence 0 where the head calls the pixel sky. Its sky recall and the
share of surface pixels it calls sky are scored on the validation pairs and printed; the
second form moves an existing head's threshold, after scoring candidates with --sweep.
"""

import argparse
import json
import pathlib
import sys
from typing import Any, Dict, List, Tuple

import torch

from thermostereo_ros.data.heldout import validation_pairs
from thermostereo_ros.geometry.image_size import parse_size
from thermostereo_ros.inference.checkpoint import build_student, CheckpointError, save_checkpoint
from thermostereo_ros.training.sky_head import (fold_threshold, sky_scores, sky_sweep, SkyRecipe,
                                                train_sky_head, with_sky_head)
from thermostereo_ros.training.trainer import weights_digest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the sky-head options."""
    parser.add_argument('--checkpoint', type=pathlib.Path, required=True,
                        help='trained ThermoStereoRT checkpoint (.safetensors) without a sky '
                             'head; with --steps 0, one with a head, to move its threshold')
    parser.add_argument('--cache',
                        help='training cache (`thermostereo synth --cache`) with sky masks; '
                             'needed unless --steps is 0')
    parser.add_argument('--out', type=pathlib.Path, required=True, help='checkpoint to write')
    parser.add_argument('--steps', type=int, default=3000,
                        help='training steps (default 3000, as the shipped head); 0: train '
                             "nothing, only fold --threshold into the checkpoint's head")
    parser.add_argument('--batch-size', type=int, default=8, help='pairs a step (default 8)')
    parser.add_argument('--crop', default='384x160',
                        help='training crop, WIDTHxHEIGHT (default 384x160); at most the '
                             "cache's frame size")
    parser.add_argument('--threshold', type=float, default=0.0,
                        help='call sky where the logit exceeds this (default 0), folded into '
                             "the head's last bias: higher calls less sky and fewer surfaces")
    parser.add_argument('--sweep', default='',
                        help='comma-separated thresholds to score on the validation pairs '
                             'before --threshold is folded, to choose it (e.g. 0,1,2)')
    parser.add_argument('--validation-pairs', type=int, default=24,
                        help='validation pairs to score the head on (0: none)')


def _thresholds(text: str) -> List[float]:
    try:
        return [float(t) for t in text.split(',') if t.strip()]
    except ValueError:
        raise ValueError(f'--sweep={text!r} is not a comma-separated list of numbers') from None


def _head(args: argparse.Namespace) -> Tuple[Any, Dict[str, Any], Dict[str, Any]]:
    """Return the network with its head trained (at --steps 0: as stored), metadata, head info."""
    model, meta = build_student(args.checkpoint, 'takes a sky head')
    if args.steps == 0:
        if model.sky is None:
            raise ValueError(f'{args.checkpoint} has no sky head, so --steps 0 has no '
                             'threshold to move: give --steps and --cache to train one')
        return model, meta, dict(meta.get('provenance', {}).get('sky_head', {}))
    if args.steps < 0 or args.batch_size < 1:
        raise ValueError(f'--steps must be at least 0 and --batch-size at least 1, got '
                         f'{args.steps} and {args.batch_size}')
    if not args.cache:
        raise ValueError('--cache is needed to train a head (or --steps 0 to only move the '
                         'threshold of an existing one)')
    started_from = {'path': str(args.checkpoint), 'digest': weights_digest(model)}
    model = with_sky_head(model)
    run_info = train_sky_head(model, args.cache, SkyRecipe(
        steps=args.steps, batch_size=args.batch_size, crop=parse_size(args.crop, '--crop')))
    return model, meta, dict(run_info, started_from=started_from)


def run(args: argparse.Namespace) -> int:
    """Train (or take) a head, move its threshold, score, write; 1 with one line on bad input."""
    try:
        sweep = _thresholds(args.sweep)
        model, meta, head = _head(args)
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f'sky-head: error: {exc}', file=sys.stderr)
        return 1
    if sweep and args.validation_pairs > 0:
        for row in sky_sweep(model, validation_pairs(args.validation_pairs), sweep):
            print('sweep: ' + json.dumps(row), flush=True)
    fold_threshold(model, args.threshold)
    head['threshold'] = head.get('threshold', 0.0) + args.threshold
    head.pop('validation', None)  # a score of the head before this threshold would mislead
    if args.validation_pairs > 0:
        head['validation'] = sky_scores(model, validation_pairs(args.validation_pairs))
        print('validation: ' + json.dumps(head['validation']), flush=True)
    provenance = dict(meta.get('provenance', {}), sky_head=dict(head, torch=torch.__version__))
    save_checkpoint(args.out, model, arch='thermostereo_rt', config=model.config,
                    normalization=meta.get('normalization', {}), provenance=provenance)
    print(f'wrote {args.out}', flush=True)
    return 0
