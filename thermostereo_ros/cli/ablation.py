# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo ablation`: evaluate the trained ablation runs and SGBM on the held-out set."""

import argparse
import json
import pathlib

import torch

from thermostereo_ros.evaluation.ablation import markdown, run_ablation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ablation subcommand's arguments."""
    parser.add_argument('--runs', type=pathlib.Path, default=pathlib.Path('runs'),
                        help='folder with teacher/, student_sparse/, student_kd/, '
                             'student_kd_norefine/ (each with final.safetensors)')
    parser.add_argument('--out', type=pathlib.Path, default=pathlib.Path('runs/ablation.json'))
    parser.add_argument('--max-frames', type=int, help='pairs per condition (default: all)')
    parser.add_argument('--latency-runs', type=int, default=10)
    parser.add_argument('--no-progress', action='store_true')


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the markdown table, write JSON."""
    rows = run_ablation(args.runs, args.max_frames, args.latency_runs,
                        progress=not args.no_progress)
    table = markdown(rows)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({'torch_threads': torch.get_num_threads(), 'rows': rows,
                                    'markdown': table}, indent=2))
    print(f'wrote {args.out}')
    return 0
