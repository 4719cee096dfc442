# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo synth`: an MS2-layout dataset, a training cache, or the data gallery.

- `--out ROOT`: sequences in the MS2 on-disk layout (what `eval --data ms2` and the bag
  converter read);
- `--cache DIR --pairs N`: a memory-mappable training cache, rendered on every core;
- `--gallery PNG [--stats MD]`: the picture and statistics table of docs/DATA.md.
"""

import argparse
import json
import os

from tqdm import tqdm

from thermostereo_ros.data import gallery
from thermostereo_ros.data.cache import cache_size_bytes, write_cache
from thermostereo_ros.data.ms2_writer import write_dataset
from thermostereo_ros.data.synthetic import RENDERER_VERSION, RENDERER_VERSIONS


def _mix(text: str) -> dict:
    mix = {}
    for item in text.split(','):
        name, _, weight = item.partition('=')
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{item!r}: a mix is family=weight pairs, e.g. street=0.45,indoor=0.2,flying=0.35')
    return mix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the synth options."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument('--out', help='output dataset root (MS2 layout)')
    what.add_argument('--cache', help='training cache folder to write (or complete)')
    what.add_argument('--gallery', help='PNG grid of scenes per family and condition')
    parser.add_argument('--pairs', type=int, default=1000, help='cache: number of pairs')
    parser.add_argument('--first-seed', type=int, default=0, help='cache: seed of pair 0')
    parser.add_argument('--mix', type=_mix,
                        help='scene-family weights, e.g. street=0.45,indoor=0.2,flying=0.35')
    parser.add_argument('--workers', type=int, help='cache: processes (default: every core)')
    parser.add_argument('--renderer-version', type=int, default=None,
                        help='cache and gallery: renderer version (default: the current one)')
    parser.add_argument('--stats', help='gallery: also write the statistics table (Markdown)')
    parser.add_argument('--stats-pairs', type=int, default=6,
                        help='gallery: pairs per family and condition for --stats')
    parser.add_argument('--family', help='MS2 layout: scene family of every sequence '
                                         '(default street, like MS2)')
    parser.add_argument('--sequences', type=int, default=3, help='number of sequences')
    parser.add_argument('--frames', type=int, default=10, help='frames per sequence')
    parser.add_argument('--height', type=int, default=256)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--seed', type=int, default=0, help='render seed of sequence 0')
    parser.add_argument('--max-disparity', type=float, default=192)
    parser.add_argument('--conditions', default='day,night,rain',
                        help='comma-separated conditions cycled over the sequences')


def run(args: argparse.Namespace) -> int:
    """Write what was asked for."""
    conditions = [c.strip() for c in args.conditions.split(',') if c.strip()]
    if args.cache:
        with tqdm(total=args.pairs, desc='pairs', unit='pair') as bar:
            manifest = write_cache(args.cache, args.pairs, args.height, args.width,
                                   args.max_disparity, args.first_seed, args.mix, conditions,
                                   workers=args.workers, progress=bar,
                                   **({} if args.renderer_version is None
                                      else {'version': args.renderer_version}))
        size = cache_size_bytes(args.cache)
        print(f'wrote {manifest}: {size / 1e6:.0f} MB, '
              f'{size / 1e6 / max(args.pairs, 1) * 1000:.0f} MB per 1000 pairs')
        return 0
    if args.gallery:
        version = args.renderer_version or RENDERER_VERSION
        gallery.gallery(args.gallery, height=args.height, width=args.width,
                        max_disparity=args.max_disparity, version=version)
        print(f'wrote {args.gallery}')
        if args.stats:
            # Every renderer version side by side: what the new one adds is the point.
            rows = [row for v in RENDERER_VERSIONS
                    for row in gallery.statistics(args.stats_pairs, args.height, args.width,
                                                  args.max_disparity, version=v)]
            with open(args.stats, 'w') as f:
                f.write(gallery.statistics_markdown(rows))
            with open(os.path.splitext(args.stats)[0] + '.json', 'w') as f:
                json.dump(rows, f, indent=1)
            print(f'wrote {args.stats}')
        return 0

    with tqdm(total=args.sequences, desc='sequences', unit='seq') as bar:
        splits = write_dataset(args.out, args.sequences, args.frames, args.height, args.width,
                               args.seed, conditions, args.max_disparity, progress=bar,
                               family=args.family or 'street')
    for split, names in splits.items():
        print(f'{split}: {len(names)} sequence(s) {" ".join(names)}')
    return 0
