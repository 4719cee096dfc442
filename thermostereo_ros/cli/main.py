# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo` command line: dispatches to subcommands registered in SUBCOMMANDS.

Each subcommand lives in its own module with `add_arguments(parser)` and `run(args) -> int`.
Only the chosen subcommand's module is imported, so each one imports what it needs (torch,
rclpy, rosbags) at its top, `thermostereo --help` stays fast, and a tool that needs rclpy does
not burden the others.
"""

import argparse
import importlib
import sys
from typing import List, Optional

# name -> (module, one-line help). Later tools add a line here.
SUBCOMMANDS = {
    'ablation': ('thermostereo_ros.cli.ablation', 'ablation table on the held-out set'),
    'adapt': ('thermostereo_ros.cli.adapt', 'fit a student to your cameras from footage, no GT'),
    'export': ('thermostereo_ros.inference.export', 'export a checkpoint to ONNX or TensorRT'),
    'ms2-to-bag': ('thermostereo_ros.bags.ms2_to_bag', 'convert an MS2 sequence to a rosbag2'),
    'demo': ('thermostereo_ros.tools.demo', 'synthetic bag -> node over DDS -> scored outputs'),
    'eval': ('thermostereo_ros.evaluation.cli', 'evaluate the network and/or SGBM on a split'),
    'synth': ('thermostereo_ros.cli.synth', 'write a synthetic thermal stereo set in MS2 layout'),
    'prune': ('thermostereo_ros.cli.prune', 'a narrower student from a trained one, to fine-tune'),
    'sky-head': ('thermostereo_ros.cli.sky_head', 'add a trained sky head to a student network'),
    'replay': ('thermostereo_ros.tools.replay', 'publish a bag through rclpy with its timing'),
    'train': ('thermostereo_ros.cli.train', 'train the teacher or the student (torchrun for DDP)'),
    'bench': ('thermostereo_ros.tools.bench_cli', 'latency, accuracy vs SGBM, node end to end'),
}


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """Build the top-level parser; only `command`'s module is imported, for its arguments."""
    parser = argparse.ArgumentParser(
        prog='thermostereo', description='ThermoStereoRT thermal stereo depth tools.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the `thermostereo` CLI; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith('-')), None)
    args = build_parser(command).parse_args(argv)
    if not getattr(args, '_module', None):
        build_parser().print_help()
        return 2
    return int(args._module.run(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
