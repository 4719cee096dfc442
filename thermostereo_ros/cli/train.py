# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo train`: train the teacher or the student from a YAML config.

Multi-GPU or multi-node: launch the same command under torchrun, e.g.
`torchrun --nproc_per_node 4 -m thermostereo_ros.cli.main train --config ...`.
"""

import argparse
import os
import pathlib
import re
import sys

from thermostereo_ros.training.config import load_config
from thermostereo_ros.training.recipe import find_recipe, load_recipe, run_recipe
from thermostereo_ros.training.trainer import export_state, train


def parse_duration(text: str) -> float:
    """Seconds in '2h30m', '90m', '45s' or a plain number of seconds."""
    text = text.strip()
    if re.fullmatch(r'\d+(\.\d+)?', text):
        return float(text)
    match = re.fullmatch(r'(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?', text)
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f'{text!r} is not a duration like 2h30m, 90m or 45s')
    h, m, s = (int(g or 0) for g in match.groups())
    return float(h * 3600 + m * 60 + s)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the train subcommand's arguments."""
    parser.add_argument('--config', type=pathlib.Path,
                        help='training YAML (see config/train/); not needed with --export')
    parser.add_argument('--recipe', metavar='NAME|YAML',
                        help='run a multi-phase recipe (config/recipes/: shipped = the shipped '
                             'weights end to end) into --out; rerun to continue. --steps, '
                             '--batch-size, --cache and --val-pairs then apply to every phase '
                             '(--batch-size to the sky head too)')
    parser.add_argument('--sky-steps', type=int,
                        help='with --recipe: override the sky head phase\'s steps')
    parser.add_argument('--val-pairs', type=int, help='override log.val_pairs')
    parser.add_argument('--export', type=pathlib.Path, metavar='CHECKPOINT',
                        help='write a checkpoint from --state (EMA weights if kept) and exit')
    parser.add_argument('--data', choices=('synthetic', 'cache', 'ms2'), help='override data.kind')
    parser.add_argument('--root', help='MS2 dataset root (with --data ms2)')
    parser.add_argument('--out', help='override log.out_dir')
    parser.add_argument('--steps', type=int, help='override optim.steps')
    parser.add_argument('--batch-size', type=int, help='override optim.batch_size')
    parser.add_argument('--teacher', help='override distillation.teacher (checkpoint path)')
    parser.add_argument('--init', metavar='CHECKPOINT',
                        help='start from these weights (fine-tuning); override init')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), help='override device')
    parser.add_argument('--resume', action='store_true',
                        help='continue from OUT/state.safetensors if it exists')
    parser.add_argument('--stop-at', type=int,
                        help='stop after this step with the state saved (continue with --resume)')
    parser.add_argument('--time-budget', type=parse_duration,
                        help='stop cleanly before this much time (e.g. 2h30m) with the state '
                             'saved; continue with --resume')
    parser.add_argument('--state', type=pathlib.Path,
                        help='resumable state file (default OUT/state.safetensors)')
    parser.add_argument('--cache', help='train from this `synth --cache` folder '
                                        '(data.kind cache)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    """Load the config, apply command-line overrides and train."""
    if args.export:
        if not args.state:
            print('train: error: --export needs --state (the run\'s state file)',
                  file=sys.stderr)
            return 2
        print(f'wrote {export_state(args.state, args.export)}', flush=True)
        return 0
    if args.config is None and args.recipe is None:
        print('train: error: --config (or --recipe) is required', file=sys.stderr)
        return 2
    overrides = _overrides(args)
    if args.recipe is not None:
        return _run_recipe(args, overrides)
    config = load_config(args.config, overrides)
    final = train(config, resume=args.resume, progress=not args.no_progress,
                  stop_at=args.stop_at, time_budget_s=args.time_budget, state_path=args.state)
    print(f'wrote {final}', flush=True)
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        # The process group is destroyed and every file is written. Under torchrun, gloo's
        # threads occasionally abort at interpreter teardown ("terminate called without an
        # active exception", seen here after a complete run); torchrun would report that as a
        # failed rank, so a finished rank ends without teardown.
        sys.stderr.flush()
        os._exit(0)
    return 0


def _run_recipe(args: argparse.Namespace, overrides: dict) -> int:
    if not args.out:
        print('train: error: --recipe needs --out (where each phase writes its folder)',
              file=sys.stderr)
        return 2
    try:
        recipe = load_recipe(find_recipe(args.recipe))
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f'train: error: {exc}', file=sys.stderr)
        return 2
    if 'init' in overrides:
        print('train: error: --init does not apply to a recipe: each phase starts from the '
              'one before it', file=sys.stderr)
        return 2
    # --out is the recipe's root; each phase writes a folder in it.
    log = overrides.get('log', {})
    log.pop('out_dir', None)
    if not log:
        overrides.pop('log', None)
    sky = {key: value for key, value in (('steps', args.sky_steps),
                                         ('batch_size', args.batch_size)) if value is not None}
    final = run_recipe(recipe, pathlib.Path(args.out).expanduser(), overrides, sky,
                       time_budget_s=args.time_budget, progress=not args.no_progress)
    if final is None:
        print('recipe: stopped with its state saved; run the same command to continue',
              flush=True)
        return 0
    print(f'wrote {final}', flush=True)
    return 0


def _overrides(args: argparse.Namespace) -> dict:
    overrides: dict = {}
    data = {}
    if args.data:
        data['kind'] = args.data
    if args.root:
        data['root'] = args.root
    if args.cache:
        data['kind'], data['root'] = 'cache', args.cache
    if data:
        overrides['data'] = data
    if args.out:
        overrides['log'] = {'out_dir': args.out}
    optim = {}
    if args.steps is not None:
        optim['steps'] = args.steps
    if args.batch_size is not None:
        optim['batch_size'] = args.batch_size
    if optim:
        overrides['optim'] = optim
    if args.teacher is not None:
        overrides['distillation'] = {'teacher': args.teacher or None}
    if args.device:
        overrides['device'] = args.device
    if args.init:
        overrides['init'] = args.init
    if args.val_pairs is not None:
        overrides.setdefault('log', {})['val_pairs'] = args.val_pairs
    return overrides
