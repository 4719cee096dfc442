# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Export a checkpoint to ONNX (opset 17) or a TensorRT engine; the `thermostereo export` CLI.

An export is for one fixed input size: the cost volume and padding are traced as static
shapes, which is what onnxruntime and TensorRT optimise best. The checkpoint metadata is
stored in the ONNX metadata_props so a .onnx file can be run on its own.
"""

import argparse

import numpy as np

from thermostereo_ros.inference.checkpoint import CheckpointError
from thermostereo_ros.inference.engine import StereoEngine
from thermostereo_ros.inference.onnx_io import export_onnx
from thermostereo_ros.inference.shifted_texture import synthetic_pair
from thermostereo_ros.inference.tensorrt_backend import build_engine_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register `thermostereo export` options."""
    parser.add_argument('--format', choices=('onnx', 'tensorrt'), default='onnx')
    parser.add_argument('--height', type=int, required=True, help='input image height')
    parser.add_argument('--width', type=int, required=True, help='input image width')
    parser.add_argument('--checkpoint', default=None,
                        help='.safetensors checkpoint (default: the shipped weights)')
    parser.add_argument('--out', required=True, help='output .onnx or .engine file')
    parser.add_argument('--max-disparity', type=int, default=None,
                        help='override (only architectures whose weights allow it)')
    parser.add_argument('--fp16', action='store_true', help='TensorRT: build an fp16 engine')


def run(args: argparse.Namespace) -> int:
    """Export, then report the max abs disparity difference against torch on a test pair."""
    if args.height <= 0 or args.width <= 0:
        print('error: --height and --width must be positive')
        return 2
    try:
        # fp32, the precision an export is checked against (auto may be bf16 on this CPU).
        reference = StereoEngine.from_checkpoint(args.checkpoint, device='cpu',
                                                 precision='fp32', backend='torch',
                                                 max_disparity=args.max_disparity)
    except (CheckpointError, ValueError) as exc:
        print(f'error: {exc}')
        return 1
    model = reference.network
    left, right = synthetic_pair(args.height, args.width, disparity=8)
    expected = reference.infer(left, right)
    if args.format == 'onnx':
        export_onnx(model, args.height, args.width, reference.metadata, args.out)
        exported = StereoEngine.from_checkpoint(args.out, backend='onnxruntime')
    else:
        try:
            build_engine_file(model, args.height, args.width, reference.metadata, args.out,
                              fp16=args.fp16)
        except (ImportError, RuntimeError, ValueError) as exc:
            print(f'error: {exc}')
            return 1
        exported = StereoEngine.from_checkpoint(args.out, backend='tensorrt',
                                                precision='fp16' if args.fp16 else 'fp32')
    got = exported.infer(left, right)
    diff = float(np.abs(got.disparity - expected.disparity).max())
    conf_diff = float(np.abs(got.confidence - expected.confidence).max())
    print(f'wrote {args.out} ({args.format}, {args.height}x{args.width}, '
          f'max_disparity={reference.trained_range})')
    print(f'max abs difference vs torch on a synthetic pair: disparity {diff:.3g} px, '
          f'confidence {conf_diff:.3g}')
    return 0
