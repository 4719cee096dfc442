# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo bench`: evaluation/bench.py's measurements plus the node over real DDS."""

import argparse
import pathlib
from typing import Any, Dict, Sequence

from thermostereo_ros.evaluation import bench
from thermostereo_ros.geometry.image_size import parse_sizes, Size, size_label

add_arguments = bench.add_arguments


def run(args: argparse.Namespace) -> int:
    """Run the benchmark with the node end-to-end part."""
    return bench.run(args, node_bench=_node_bench)


def _node_bench(args: argparse.Namespace, checkpoint: pathlib.Path, sizes: Sequence[Size],
                out: pathlib.Path) -> Dict[str, Any]:
    try:  # a probe: the bench runs without ROS and then skips only this part
        import diagnostic_msgs.msg  # noqa: F401
        import rclpy  # noqa: F401
        import sensor_msgs.msg  # noqa: F401
        import stereo_msgs.msg  # noqa: F401
    except ImportError as exc:
        return {'skipped': f'rclpy or a ROS message package is not importable here ({exc})'}
    # ROS only where a node is talked to: the CLI and non-ROS users start without it.
    from thermostereo_ros.tools.bench_node import run_node_bench

    size = parse_sizes(args.node_size)[0] if args.node_size else sizes[0]
    device = 'cpu' if args.device == 'cpu' else ('cuda' if args.device == 'cuda' else 'auto')
    print(f'bench: node end to end at {size_label(size)}, {args.node_rate} Hz ...', flush=True)
    result = run_node_bench(checkpoint, size, rate_hz=args.node_rate, pairs=args.node_pairs,
                            device=device, precision=args.node_precision,
                            warm_up_first=args.node_warmup,
                            export_cache_home=(str(pathlib.Path(args.node_export_cache)
                                                   .expanduser().resolve())
                                               if args.node_export_cache else None),
                            dds_profile=args.dds_profile)
    if args.node_profile > 0 and not result.get('skipped'):
        print('bench: node under cProfile ...', flush=True)
        profiled = run_node_bench(checkpoint, size, rate_hz=args.node_rate,
                                  pairs=args.node_profile, device=device,
                                  precision=args.node_precision,
                                  profile_out=out / 'node_profile.pstats',
                                  dds_profile=args.dds_profile)
        for key in ('profile_top', 'profile_own_time_top', 'profile_file', 'profile_error'):
            if key in profiled:
                result[key] = profiled[key]
    return result
