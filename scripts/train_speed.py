#!/usr/bin/env python3
# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Measure training steps/s of a config, from the training cache and rendering on the fly.

Usage: scripts/train_speed.py --config config/train/student_v2.yaml [--steps 12]
       [--precision fp32|bf16] [--sources cache]
Runs each data source for --steps steps into a temporary folder (the first 2 steps are
warm-up and not counted) and prints steps/s and samples/s. A benchmark, not a test.
"""

import argparse
import json
import tempfile
import time

import torch

from thermostereo_ros.training.config import load_config
from thermostereo_ros.training.trainer import resolve_precision, train


def _measure(config: dict, steps: int) -> float:
    stamps = []
    original = torch.optim.AdamW.step

    def timed_step(self, *args, **kwargs):
        stamps.append(time.perf_counter())
        return original(self, *args, **kwargs)

    torch.optim.AdamW.step = timed_step
    try:
        with tempfile.TemporaryDirectory() as out:
            config = json.loads(json.dumps(config))
            config['log'].update(out_dir=out, checkpoint_every=10 ** 9, val_pairs=0)
            config['optim'].update(steps=steps)
            train(config, progress=False, stop_at=steps)
    finally:
        torch.optim.AdamW.step = original
    return (len(stamps) - 3) / (stamps[-1] - stamps[2])


def main() -> int:
    """Print steps/s and samples/s for the cache and for on-the-fly rendering."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', required=True)
    parser.add_argument('--steps', type=int, default=12)
    parser.add_argument('--precision', choices=('auto', 'fp32', 'bf16'),
                        help="override the config's precision")
    parser.add_argument('--sources', default='cache,synthetic',
                        help='comma-separated data sources to time (cache, synthetic)')
    args = parser.parse_args()
    config = load_config(args.config)
    if args.precision:
        config['precision'] = args.precision
    batch = config['optim']['batch_size']
    print(f'precision {resolve_precision(config, torch.device("cpu"))}, '
          f'{torch.get_num_threads()} threads, batch {batch}, crop {config["data"]["crop"]}')
    for kind in args.sources.split(','):
        run = json.loads(json.dumps(config))
        run['data']['kind'] = kind
        rate = _measure(run, args.steps)
        print(f'{kind:9s}: {rate:.3f} steps/s, {rate * batch:.2f} samples/s')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
