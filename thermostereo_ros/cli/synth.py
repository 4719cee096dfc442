# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo synth`: write a synthetic thermal stereo dataset in the MS2 layout."""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the synth options."""
    parser.add_argument('--out', required=True, help='output dataset root')
    parser.add_argument('--sequences', type=int, default=3, help='number of sequences')
    parser.add_argument('--frames', type=int, default=10, help='frames per sequence')
    parser.add_argument('--height', type=int, default=256)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--seed', type=int, default=0, help='render seed of sequence 0')
    parser.add_argument('--max-disparity', type=float, default=192)
    parser.add_argument('--conditions', default='day,night,rain',
                        help='comma-separated conditions cycled over the sequences')


def run(args: argparse.Namespace) -> int:
    """Render and write the dataset; prints the split assignment."""
    from tqdm import tqdm

    from thermostereo_ros.data.ms2_writer import write_dataset

    conditions = [c.strip() for c in args.conditions.split(',') if c.strip()]
    with tqdm(total=args.sequences, desc='sequences', unit='seq') as bar:
        splits = write_dataset(args.out, args.sequences, args.frames, args.height, args.width,
                               args.seed, conditions, args.max_disparity, progress=bar)
    for split, names in splits.items():
        print(f'{split}: {len(names)} sequence(s) {" ".join(names)}')
    return 0
