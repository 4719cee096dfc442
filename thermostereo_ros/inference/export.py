# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Export a checkpoint to ONNX (opset 17) or a TensorRT engine; the `thermostereo export` CLI.

An export is for one fixed input size: the cost volume and padding are traced as static
shapes, which is what onnxruntime and TensorRT optimise best. The checkpoint metadata is
stored in the ONNX metadata_props so a .onnx file can be run on its own.
"""

import argparse
import io
import json
import pathlib
import warnings
from typing import Any, Dict, Optional, Union

ONNX_OPSET = 17
INPUT_NAMES = ('left', 'right')
OUTPUT_NAMES = ('disparity', 'confidence')


def export_onnx(model, height: int, width: int, metadata: Optional[Dict[str, Any]] = None,
                out: Optional[Union[str, pathlib.Path]] = None) -> bytes:
    """Trace an eval-mode network for a 1x1xHxW pair; returns the ONNX bytes (and writes `out`).

    Inputs 'left', 'right' (float32, normalised [0, 1]); outputs 'disparity', 'confidence'.
    """
    import onnx
    import torch

    model = model.eval()
    example = (torch.zeros(1, 1, height, width), torch.zeros(1, 1, height, width))
    buffer = io.BytesIO()
    # The TorchScript-based exporter (dynamo=False) handles the static-shape graph directly
    # and needs no onnxscript rewriting; the network has no data-dependent control flow.
    # Tracing warns about shapes turned into constants; that is intended (fixed-size export).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, example, buffer, input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), opset_version=ONNX_OPSET,
                          dynamo=False, do_constant_folding=True)
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in _metadata_props(metadata or {}, height, width).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    data = proto.SerializeToString()
    if out is not None:
        pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(out).write_bytes(data)
    return data


def _metadata_props(metadata: Dict[str, Any], height: int, width: int) -> Dict[str, str]:
    props = {'thermostereo_input_height': str(height), 'thermostereo_input_width': str(width)}
    if 'arch' in metadata:
        props['thermostereo_arch'] = str(metadata['arch'])
    for key in ('config', 'normalization', 'provenance'):
        if key in metadata:
            props['thermostereo_' + key] = json.dumps(metadata[key], sort_keys=True)
    return props


def read_onnx_metadata(proto) -> Dict[str, Any]:
    """Recover {'arch', 'config', 'normalization', 'provenance', 'input_size'} from ONNX."""
    props = {p.key: p.value for p in proto.metadata_props}
    meta: Dict[str, Any] = {'arch': props.get('thermostereo_arch', 'unknown')}
    for key in ('config', 'normalization', 'provenance'):
        meta[key] = json.loads(props.get('thermostereo_' + key, '{}'))
    inp = proto.graph.input[0].type.tensor_type.shape.dim
    meta['input_size'] = (int(inp[2].dim_value), int(inp[3].dim_value))
    meta['config'].setdefault('max_disparity', 192)
    return meta


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
    import numpy as np

    from thermostereo_ros.inference.checkpoint import CheckpointError
    from thermostereo_ros.inference.engine import StereoEngine
    from thermostereo_ros.inference.synthetic import synthetic_pair

    if args.height <= 0 or args.width <= 0:
        print('error: --height and --width must be positive')
        return 2
    try:
        reference = StereoEngine.from_checkpoint(args.checkpoint, device='cpu',
                                                 max_disparity=args.max_disparity)
    except (CheckpointError, ValueError) as exc:
        print(f'error: {exc}')
        return 1
    model = reference._runner.model
    left, right = synthetic_pair(args.height, args.width, disparity=8)
    expected = reference.infer(left, right)
    if args.format == 'onnx':
        export_onnx(model, args.height, args.width, reference.metadata, args.out)
        exported = StereoEngine.from_checkpoint(args.out, backend='onnxruntime')
    else:
        try:
            from thermostereo_ros.inference.tensorrt_backend import build_engine_file
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
          f'max_disparity={reference.max_disparity})')
    print(f'max abs difference vs torch on a synthetic pair: disparity {diff:.3g} px, '
          f'confidence {conf_diff:.3g}')
    return 0
