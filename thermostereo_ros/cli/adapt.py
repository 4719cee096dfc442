# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo adapt`: fit a student to your own cameras from their footage, without GT.

    thermostereo adapt --data bag --root my_rig_bag --out adapted.safetensors

Reads up to --pairs stereo pairs (a bag by topic, an MS2 folder, or a training cache whose
GT is ignored), adapts the aggregation and refinement self-supervised (training/adapt.py) for
--steps or --minutes, and writes a checkpoint that records what it was adapted on. Check the
result with `thermostereo eval --no-gt` on footage it was not adapted on before using it.
"""

import argparse
import pathlib
import sys
from typing import List, Tuple

import numpy as np

from thermostereo_ros.bags.pairs import DEFAULT_LEFT_TOPIC, DEFAULT_RIGHT_TOPIC, iter_pairs
from thermostereo_ros.data.cache import TrainingCache
from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.evaluation.evaluate import iter_frames
from thermostereo_ros.inference.checkpoint import build_student, CheckpointError, save_checkpoint
from thermostereo_ros.inference.engine import resolve_checkpoint
from thermostereo_ros.training.adapt import adapt, AdaptRecipe
from thermostereo_ros.training.session import weights_digest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the adapt options."""
    parser.add_argument('--data', choices=('bag', 'ms2', 'cache'), required=True,
                        help='bag: a rosbag2 by topic; ms2: an MS2 folder (--split); cache: a '
                        'training cache, its GT unused (for measuring adaptation)')
    parser.add_argument('--root', required=True, help='the bag, MS2 root or cache folder')
    parser.add_argument('--split', default='train', help='MS2 split to read (--data ms2)')
    parser.add_argument('--left-topic', default=DEFAULT_LEFT_TOPIC)
    parser.add_argument('--right-topic', default=DEFAULT_RIGHT_TOPIC)
    parser.add_argument('--checkpoint', default=None,
                        help='student to adapt (default: the shipped weights)')
    parser.add_argument('--out', type=pathlib.Path, required=True, help='checkpoint to write')
    parser.add_argument('--pairs', type=int, default=500, help='pairs to read at most')
    parser.add_argument('--steps', type=int, default=AdaptRecipe.steps)
    parser.add_argument('--minutes', type=float, default=AdaptRecipe.max_seconds / 60,
                        help='stop after this long even if --steps are not done')
    parser.add_argument('--lr', type=float, default=AdaptRecipe.lr)
    parser.add_argument('--anchor-weight', type=float, default=AdaptRecipe.anchor_weight,
                        help='pull towards the starting network, per px of disparity')
    parser.add_argument('--seed', type=int, default=0)


def _read_pairs(args: argparse.Namespace) -> List[Tuple[np.ndarray, np.ndarray]]:
    if args.data == 'bag':
        return [(f.left, f.right) for f in iter_pairs(args.root, args.left_topic,
                                                      args.right_topic, args.pairs)]
    if args.data == 'ms2':
        return [(f.left, f.right) for f in iter_frames('ms2', args.root, args.split,
                                                       args.pairs)]
    cache = TrainingCache(args.root)
    picks = np.linspace(0, len(cache) - 1, min(args.pairs, len(cache))).astype(int)
    return [(cache.pair(int(i))['left'], cache.pair(int(i))['right']) for i in picks]


def run(args: argparse.Namespace) -> int:
    """Adapt and write the checkpoint; 1 with one line on bad input."""
    if args.pairs < 1 or args.steps < 1 or args.minutes <= 0:
        print('adapt: error: --pairs and --steps must be at least 1 and --minutes positive',
              file=sys.stderr)
        return 1
    try:
        path = resolve_checkpoint(args.checkpoint)
        model, meta = build_student(path, 'can be adapted')
        raw = _read_pairs(args)
    except (CheckpointError, ValueError, OSError) as exc:
        print(f'adapt: error: {exc}', file=sys.stderr)
        return 1
    if not raw:
        print(f'adapt: error: no stereo pairs in {args.root}', file=sys.stderr)
        return 1
    norm = meta['normalization']
    pairs = [normalize_pair(left, right, norm.get('mode', 'joint'), norm.get('low', 1.0),
                            norm.get('high', 99.0)) for left, right in raw]
    started_from = {'path': str(path), 'digest': weights_digest(model)}
    recipe = AdaptRecipe(steps=args.steps, lr=args.lr, anchor_weight=args.anchor_weight,
                         seed=args.seed, max_seconds=args.minutes * 60)
    info = adapt(model, pairs, recipe)
    provenance = dict(meta.get('provenance', {}),
                      adapted=dict(info, data=args.data, root=str(args.root),
                                   started_from=started_from))
    save_checkpoint(args.out, model, 'thermostereo_rt', model.config, norm, provenance)
    print(f'wrote {args.out}: adapted on {len(pairs)} pairs, {info["steps_done"]} steps in '
          f'{info["seconds"]:.0f} s (photometric loss {info["final_photometric"]:.4f})')
    return 0
