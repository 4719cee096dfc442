# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo bench`: model latency, SGBM latency, accuracy and the node through real DDS.

Writes `<out>/bench.json` and `<out>/bench.md`. The ROS-free parts live here (measurements in
bench_measure.py, the report in bench_report.py); the node end-to-end part is passed in by
`thermostereo_ros.tools.bench_cli`, the CLI entry.
"""

import argparse
import importlib.util
import json
import os
import pathlib
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from thermostereo_ros.evaluation import cpu_load
from thermostereo_ros.evaluation.bench_measure import (_TIMING_SHIFT, accuracy, bench_engine,
                                                       bench_interleaved, BENCH_MAX_DISPARITY,
                                                       bench_sgbm, bench_startup, CACHED_BACKENDS,
                                                       engine_configs, machine_info, model_costs,
                                                       tensorrt_importable)
from thermostereo_ros.evaluation.bench_report import _summary, compute_ratios, markdown_report
from thermostereo_ros.evaluation.report import json_safe
from thermostereo_ros.geometry.image_size import parse_sizes, Size, size_label
from thermostereo_ros.inference import CheckpointError, save_checkpoint
from thermostereo_ros.inference.engine import resolve_checkpoint
from thermostereo_ros.inference.shifted_texture import synthetic_pair
from thermostereo_ros.model import build_model
# The node end-to-end part, given by the caller (tools/bench_cli.py): evaluation does not import
# the ROS tools. (args, checkpoint, sizes, out) -> report['node'].
NodeBench = Callable[[argparse.Namespace, pathlib.Path, Sequence[Size], pathlib.Path],
                     Dict[str, Any]]

JSON_NAME = 'bench.json'
MARKDOWN_NAME = 'bench.md'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the bench options."""
    parser.add_argument('--checkpoint', default=None,
                        help='.safetensors checkpoint (default: the shipped weights)')
    parser.add_argument('--random-weights', action='store_true',
                        help='no checkpoint: time the default architecture with random '
                             'weights (accuracy is then meaningless and is labelled so)')
    parser.add_argument('--sizes', default='640x256,640x512',
                        help='comma-separated WIDTHxHEIGHT input sizes')
    parser.add_argument('--runs', type=int, default=50, help='timed runs per configuration')
    parser.add_argument('--warmup', type=int, default=5, help='untimed runs first')
    parser.add_argument('--interleaved-seconds', type=float, default=20.0,
                        help='the node configuration and SGBM, alternated: keep going this '
                             'long per size (at least --runs rounds), so that slow and fast '
                             'phases of a shared host average out')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto',
                        help='auto: CPU configurations, plus CUDA ones when CUDA is there; '
                             'cpu/cuda: only that device (cuda fails without CUDA)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch/onnxruntime CPU threads (default: OMP_NUM_THREADS or '
                             'torch default)')
    parser.add_argument('--compile', action='store_true',
                        help='also time torch.compile on CUDA (compiling takes minutes)')
    parser.add_argument('--no-tensorrt', action='store_true',
                        help='skip TensorRT even when it is importable')
    parser.add_argument('--out', default='bench_out', help='output folder')
    parser.add_argument('--accuracy-pairs', type=int, default=None,
                        help='held-out pairs per condition (default: the full set; 0 = skip)')
    parser.add_argument('--accuracy-size', default=None,
                        help='WIDTHxHEIGHT of held-out pairs, for smoke runs only '
                             '(default: the held-out size, 640x256)')
    parser.add_argument('--lr-check', action='store_true',
                        help="also time each configuration with the node's lr_check (the "
                             'right view as well), alternating with plain calls, and report '
                             'the cost as a ratio')
    parser.add_argument('--skip-node', action='store_true',
                        help='skip the node end-to-end run through DDS')
    parser.add_argument('--node-rate', type=float, default=10.0, help='input pair rate, Hz')
    parser.add_argument('--node-pairs', type=int, default=100, help='pairs to send')
    parser.add_argument('--node-size', default=None,
                        help='WIDTHxHEIGHT for the node run (default: the first of --sizes)')
    parser.add_argument('--node-precision', default='auto',
                        choices=('auto', 'fp32', 'fp16', 'bf16'))
    parser.add_argument('--node-warmup', action='store_true',
                        help='start the node with warmup_size set to the node size (the '
                             'first output then does not wait for the warm-up)')
    parser.add_argument('--node-export-cache', default=None, metavar='DIR',
                        help="the node keeps its export cache under DIR (its XDG_CACHE_HOME); "
                             'run twice with the same DIR to time a restart\'s first output '
                             '(default: export cache off, a first start)')
    parser.add_argument('--dds-profile', choices=('large-shm', 'default'), default='large-shm',
                        help='large-shm: Fast DDS with a 32 MiB shared-memory segment (the '
                             'default 512 KiB one drops best-effort 640x512 mono16 images); '
                             'default: the middleware defaults')
    parser.add_argument('--node-profile', type=int, default=0, metavar='PAIRS',
                        help='also run the node under cProfile for this many pairs and '
                             'record the hottest functions (0 = no profile run)')


def _resolve_checkpoint(args: argparse.Namespace, out: pathlib.Path) -> Tuple[pathlib.Path, str]:
    try:
        return resolve_checkpoint(args.checkpoint), \
            'checkpoint' if args.checkpoint else 'shipped default weights'
    except CheckpointError:
        if not args.random_weights:
            raise
    # Timing only depends on the architecture, so untrained default-architecture weights give
    # representative latency; the report marks them so accuracy is never read as real.
    torch.manual_seed(0)
    model = build_model('thermostereo_rt', {'max_disparity': BENCH_MAX_DISPARITY})
    path = save_checkpoint(out / 'random_weights.safetensors', model, 'thermostereo_rt',
                           getattr(model, 'config'), {'mode': 'joint', 'low': 1, 'high': 99},
                           {'purpose': 'random weights for thermostereo bench timing'})
    return path, 'RANDOM weights (timing only; accuracy meaningless)'


def run_bench(args: argparse.Namespace, node_bench: Optional[NodeBench] = None) -> Dict[str, Any]:
    """Run every enabled part and return the report (also written to --out)."""
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ['OMP_NUM_THREADS'] = str(args.threads)  # onnxruntime and the node follow it
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = parse_sizes(args.sizes)
    checkpoint, weights = _resolve_checkpoint(args, out)
    report: Dict[str, Any] = {
        'created_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'checkpoint': str(checkpoint), 'weights': weights, 'machine': machine_info(),
        'settings': {'sizes': [size_label(s) for s in sizes], 'runs': args.runs,
                     'warmup': args.warmup, 'device': args.device,
                     'max_disparity': BENCH_MAX_DISPARITY},
        'latency': [], 'sgbm': [], 'interleaved': [], 'startup': [], 'skipped': [],
        'errors': []}
    report['model'] = model_costs(checkpoint, sizes)
    if report['model']['max_disparity'] != BENCH_MAX_DISPARITY:
        # The network's cost volume depends on it, so such numbers are not comparable.
        report['skipped'].append(
            f"note: the checkpoint's max_disparity is {report['model']['max_disparity']}, "
            f'not the benchmark setting {BENCH_MAX_DISPARITY}; its numbers are its own')
    trt_ok, trt_why = tensorrt_importable()
    configs = engine_configs(args.device, args.compile, trt_ok and not args.no_tensorrt)
    if torch.cuda.is_available() and args.device != 'cpu' and not trt_ok:
        report['skipped'].append(f'tensorrt: {trt_why}')
    # A GPU machine may lack OpenCV: the network numbers are still worth having.
    have_cv2 = importlib.util.find_spec('cv2') is not None
    if not have_cv2:
        report['skipped'].append('sgbm and accuracy: OpenCV (cv2) is not importable here')
    load_start = cpu_load.sample()
    for size in sizes:
        _bench_size(report, args, checkpoint, size, configs, have_cv2, size == sizes[0])
        _write(report, out)  # partial results survive a time limit on later parts
    load_end = cpu_load.sample()
    if load_start is not None and load_end is not None:
        report['machine']['others_cpu_share'] = cpu_load.others_share(
            load_start, load_end, os.cpu_count() or 1)
    acc = None
    if have_cv2 and (args.accuracy_pairs is None or args.accuracy_pairs > 0):
        print('bench: accuracy on the held-out set ...', flush=True)
        acc_size = parse_sizes(args.accuracy_size)[0] if args.accuracy_size else None
        acc = accuracy(checkpoint, args.accuracy_pairs, acc_size, args.device)
        report['accuracy'] = acc
    report['ratios'] = compute_ratios(report['latency'], report['sgbm'], acc)
    report['summary'] = _summary(report, sizes)
    _write(report, out)
    if not args.skip_node and node_bench is not None:
        try:
            report['node'] = node_bench(args, checkpoint, sizes, out)
        except Exception as exc:  # the node failing to start is a result, not a crash
            report['node'] = {'error': f'{type(exc).__name__}: {exc}'}
            report['errors'].append(f"node: {report['node']['error']}")
    _write(report, out)
    return report


def _bench_size(report: Dict[str, Any], args: argparse.Namespace, checkpoint: pathlib.Path,
                size: Size, configs: List[Dict[str, Any]], have_cv2: bool,
                first_size: bool) -> None:
    """Time every configuration at `size` (start-up at the first size), then SGBM."""
    pair = synthetic_pair(size[0], size[1], _TIMING_SHIFT)
    for config in configs:
        print(f"bench: {config['label']} at {size_label(size)} ...", flush=True)
        try:
            row = bench_engine(checkpoint, config, size, args.runs, args.warmup, pair,
                               getattr(args, 'lr_check', False))
        except Exception as exc:  # one failing backend must not lose the other numbers
            report['errors'].append(f"{config['label']} @ {size_label(size)}: "
                                    f'{type(exc).__name__}: {exc}')
            print(f'bench:   failed: {exc}', flush=True)
            continue
        report['latency'].append(row)
        print(f"bench:   p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms", flush=True)
        if first_size and config.get('backend') in CACHED_BACKENDS:
            try:
                report['startup'].append(bench_startup(checkpoint, config, size, pair))
            except Exception as exc:  # as above: report it, keep the other numbers
                report['errors'].append(f"start-up {config['label']}: "
                                        f'{type(exc).__name__}: {exc}')
    if not have_cv2:
        return
    try:
        report['sgbm'] += bench_sgbm(size, args.runs, args.warmup, pair)
    except Exception as exc:  # e.g. OpenCV refusing images narrower than the search
        report['errors'].append(f'sgbm @ {size_label(size)}: {type(exc).__name__}: {exc}')
    else:
        print(f'bench: auto and SGBM interleaved at {size_label(size)} ...', flush=True)
        try:
            report['interleaved'].append(bench_interleaved(
                checkpoint, 'cpu' if args.device == 'cpu' else 'auto', size, args.runs,
                args.warmup, pair, args.interleaved_seconds))
        except Exception as exc:  # as above: report it, keep the other numbers
            report['errors'].append(f'interleaved @ {size_label(size)}: '
                                    f'{type(exc).__name__}: {exc}')


def _write(report: Dict[str, Any], out: pathlib.Path) -> None:
    (out / JSON_NAME).write_text(json.dumps(json_safe(report), indent=2) + '\n')
    (out / MARKDOWN_NAME).write_text(markdown_report(report))


def run(args: argparse.Namespace, node_bench: Optional[NodeBench] = None) -> int:
    """Run the benchmark, print the markdown summary; 1 if a part failed."""
    try:
        report = run_bench(args, node_bench)
    except (CheckpointError, ValueError, RuntimeError) as exc:
        print(f'thermostereo bench: error: {exc}')
        return 2
    print(markdown_report(report))
    print(f'wrote {pathlib.Path(args.out) / JSON_NAME} and {MARKDOWN_NAME}')
    for error in report['errors']:
        print(f'error: {error}')
    return 1 if report['errors'] else 0
