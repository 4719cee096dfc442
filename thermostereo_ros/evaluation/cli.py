# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo eval`: disparity/depth metrics of the network and/or SGBM on a split."""

import argparse
import json
from typing import Any, Dict, Iterable, List, Tuple

import numpy as np

from thermostereo_ros.bags.pairs import DEFAULT_LEFT_TOPIC, DEFAULT_RIGHT_TOPIC, iter_pairs
from thermostereo_ros.evaluation import no_gt, planes
from thermostereo_ros.evaluation.evaluate import (evaluate_split, iter_frames, markdown_table,
                                                  Method, parse_synthetic_split)
from thermostereo_ros.evaluation.sgbm import SGBMBaseline
from thermostereo_ros.geometry.image_size import parse_size
from thermostereo_ros.inference import default_checkpoint
from thermostereo_ros.inference.engine import StereoEngine
from thermostereo_ros.inference.left_right import consistent, DEFAULT_TOLERANCE_PX


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the eval options."""
    parser.add_argument('--data', choices=('ms2', 'cats', 'synthetic', 'bag'),
                        default='synthetic',
                        help='bag: a rosbag2 (or ROS 1) bag at --root, with --no-gt only')
    parser.add_argument('--root', default=None,
                        help='dataset root (synthetic without --root = held-out set), or the '
                             'bag')
    parser.add_argument('--no-gt', action='store_true',
                        help='measure quality without ground truth (left-right consistency, '
                             'photometric residual, valid share, top rows without depth, '
                             'temporal change on sequences); where the frames have GT, also '
                             'how well each measure ranks them by D1')
    parser.add_argument('--left-topic', default=DEFAULT_LEFT_TOPIC,
                        help='--data bag: the left image topic (%(default)s)')
    parser.add_argument('--right-topic', default=DEFAULT_RIGHT_TOPIC,
                        help='--data bag: the right image topic (%(default)s)')
    parser.add_argument('--split', default=None,
                        help='comma-separated splits (ms2: test_day,test_night,test_rain; '
                             'synthetic: heldout, heldout_day/_night/_rain or '
                             'heldout_street/_indoor/_flying, or validation (the pairs '
                             'training validates on; same suffixes); heldout_v3_... and '
                             'validation_v3_... for renderer v3\'s sets, the plain names '
                             'are v2\'s; cats: hazard name)')
    parser.add_argument('--checkpoint', default=None,
                        help='network checkpoint to evaluate (default: the shipped weights)')
    parser.add_argument('--no-network', action='store_true',
                        help='evaluate only the --baseline, not the network')
    parser.add_argument('--baseline', choices=('sgbm',), default=None,
                        help='also evaluate a classical baseline')
    parser.add_argument('--out', default=None, help='write results as JSON here')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='frames per split (held-out: per condition; validation: '
                             'seeds, 24 by default)')
    parser.add_argument('--max-disparity', type=int, default=192)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--backend', default='torch')
    parser.add_argument('--precision', default='fp32')
    parser.add_argument('--size', default=None,
                        help='WIDTHxHEIGHT of synthetic pairs, for smoke runs only (default: '
                             'the held-out size, 640x256)')
    parser.add_argument('--edges', type=int, nargs='?', const=4, default=None, metavar='PX',
                        help='also score the pixels within PX (default 4) of a GT depth '
                             'discontinuity, as <method>@edges')
    parser.add_argument('--confidence', default=None, metavar='T[,T...]',
                        help='also score the network on the pixels whose confidence is at '
                             'least T (what confidence_threshold T keeps), as '
                             'network@conf>=T with the share of pixels kept (coverage)')
    parser.add_argument('--disparity-ranges', type=parse_disparity_ranges, default=[],
                        metavar='D0,D1[,D2...]',
                        help='also score the GT pixels within each range [Di, Di+1) of GT '
                             'disparity (px), as <method>@gt[Di,Di+1)')
    parser.add_argument('--lr-check', type=float, nargs='?', const=DEFAULT_TOLERANCE_PX,
                        default=None, metavar='PX',
                        help='also evaluate the network with the node\'s lr_check at this '
                        'tolerance (default %(const)s px): metrics of the pixels it keeps '
                        '(network+lr@kept, with coverage) and its sky shares')
    parser.add_argument('--planes', action='store_true',
                        help='run the textured-plane suite instead of a split: the share of '
                             'each plane within 3 px, per disparity up to 190 px')
    parser.add_argument('--no-progress', action='store_true')


def parse_disparity_ranges(text: str) -> List[Tuple[float, float]]:
    """Turn '0,8,32' into [(0, 8), (8, 32)]; the bounds must be at least two and increase.

    Raises argparse.ArgumentTypeError, so that argparse names the option and the value.
    """
    try:
        bounds = [float(b) for b in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected numbers such as 0,8,32,192')
    if len(bounds) < 2 or any(b >= c for b, c in zip(bounds, bounds[1:])) or bounds[0] < 0:
        raise argparse.ArgumentTypeError(f'{text!r}: expected two or more increasing '
                                         'non-negative bounds, such as 0,8,32,192')
    return list(zip(bounds, bounds[1:]))


def _default_split(data: str) -> str:
    return {'ms2': 'test_day,test_night,test_rain', 'cats': 'default'}.get(data, 'heldout')


def run(args: argparse.Namespace) -> int:
    """Evaluate, print a markdown table per split, optionally write JSON."""
    methods: Dict[str, Method] = {}
    if not args.no_network:
        engine = StereoEngine.from_checkpoint(args.checkpoint, device=args.device,
                                              precision=args.precision, backend=args.backend,
                                              max_disparity=args.max_disparity)

        def network(left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
            out = engine.infer(left, right)
            return out.disparity, out.confidence

        methods['network'] = network
        if args.no_gt:
            return _run_no_gt(args, engine)
        if args.lr_check is not None:
            def checked(left: np.ndarray, right: np.ndarray, tolerance: float = args.lr_check
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
                out, right_view = engine.infer_left_right(left, right)
                return (out.disparity, out.confidence,
                        consistent(out.disparity, right_view, tolerance))

            methods['network+lr'] = checked
    elif args.no_gt or args.data == 'bag':
        print('error: --no-gt and --data bag measure the network: drop --no-network')
        return 2
    if args.data == 'bag':
        print('error: --data bag needs --no-gt (a bag has no ground truth)')
        return 2
    if args.baseline == 'sgbm':
        methods['sgbm'] = SGBMBaseline(args.max_disparity).compute
    if not methods:
        print('nothing to evaluate: --no-network needs --baseline sgbm')
        return 2
    if args.planes:
        return _run_planes(methods, args.out)
    size = parse_size(args.size, '--size') if args.size else None
    thresholds = [float(t) for t in args.confidence.split(',')] if args.confidence else []
    results = {}
    for split in (args.split or _default_split(args.data)).split(','):
        frames = iter_frames(args.data, args.root, split.strip(), args.max_frames,
                             args.max_disparity, size)
        results[split] = evaluate_split(methods, frames, args.max_disparity,
                                        progress=not args.no_progress, desc=split,
                                        edges_radius=args.edges,
                                        confidence_thresholds=thresholds,
                                        disparity_ranges=args.disparity_ranges,
                                        # SGBM's rows are hole-filled: its sky would be the fill's.
                                        sky_methods=('network', 'network+lr'))
        print(f'\n### {args.data} {split}\n')
        print(markdown_table({split: results[split]}))
    if args.out:
        with open(args.out, 'w') as f:
            checkpoint = None if args.no_network else str(args.checkpoint or
                                                          default_checkpoint())
            json.dump({'data': args.data, 'root': args.root, 'checkpoint': checkpoint,
                       'renderer_version': ({split: parse_synthetic_split(split)[0]
                                             for split in results} if args.data == 'synthetic'
                                            else None),
                       'max_disparity': args.max_disparity,
                       'averaging': 'pixel-weighted over each split',
                       'results': results}, f, indent=2)
        print(f'\nwrote {args.out}')
    return 0


def _disparity_only(method: Any, with_confidence: bool) -> Any:
    """Return a matcher giving the disparity alone (the network also returns confidence)."""
    if with_confidence:
        return lambda left, right: method(left, right)[0]
    return method


def _run_planes(methods: dict, out: str) -> int:
    """Score every method on the plane suite; print one row per method, optionally JSON."""
    suite = list(planes.cases())
    shares = {name: planes.score(_disparity_only(method, name == 'network'), suite)
              for name, method in methods.items()}
    head = '| method | ' + ' | '.join(f'{d:g} px' for d in planes.DISPARITIES) + \
        ' | usable to (>= 95 %) |'
    print(head + '\n|' + '---|' * (len(planes.DISPARITIES) + 2))
    for name, by_d in shares.items():
        print(f'| {name} | ' + ' | '.join(f'{100 * v:.0f}' for v in by_d.values())
              + f' | {planes.usable_range(by_d):g} px |')
    if out:
        with open(out, 'w') as f:
            json.dump({'suite': 'planes', 'within_px': planes.WITHIN_PX,
                       'shares': {k: {str(d): v for d, v in by_d.items()}
                                  for k, by_d in shares.items()}}, f, indent=2)
    return 0


def _run_no_gt(args: argparse.Namespace, engine: StereoEngine) -> int:
    """Measure quality without GT on one source; JSON with every frame's measures."""
    tolerance = DEFAULT_TOLERANCE_PX if args.lr_check is None else args.lr_check
    results = {}
    if args.data == 'bag':
        if not args.root:
            print('error: --data bag needs --root BAG')
            return 2
        pairs = iter_pairs(args.root, args.left_topic, args.right_topic, args.max_frames)
        runs: Dict[str, Tuple[Iterable[Any], bool]] = {
            args.root: ((no_gt.Pair(str(p.stamp_ns), p.left, p.right) for p in pairs), True)}
    else:
        size = parse_size(args.size, '--size') if args.size else None
        # MS2 and rendered trees are sequences; the held-out scenes are independent.
        sequence = args.data == 'ms2' or (args.data == 'synthetic' and bool(args.root))
        runs = {split.strip(): (iter_frames(args.data, args.root, split.strip(),
                                            args.max_frames, args.max_disparity, size),
                                sequence)
                for split in (args.split or _default_split(args.data)).split(',')}
    for name, (frames, sequence) in runs.items():
        rows = no_gt.measure_run(engine, frames, args.max_disparity, sequence, tolerance)
        stats = no_gt.summary(rows)
        validation = no_gt.rank_validation(rows) if any('d1' in r for r in rows) else None
        results[name] = {'summary': stats, 'rank_correlation_with_d1': validation,
                         'frames': rows}
        print('\n' + no_gt.markdown(name, stats, validation))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({'data': args.data, 'root': args.root, 'no_gt': True,
                       'lr_check_tolerance': tolerance, 'max_disparity': args.max_disparity,
                       'results': results}, f, indent=2)
        print(f'\nwrote {args.out}')
    return 0
