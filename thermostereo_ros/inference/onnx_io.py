# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Trace a network to ONNX (opset 17) and read back the checkpoint metadata stored in it.

The low-level half of exporting, without the engine: the backends import it to build their
sessions, and `inference/export.py` (the CLI, which verifies through StereoEngine) on top.
An export is for one fixed input size: the cost volume and padding are traced as static
shapes, which is what onnxruntime and TensorRT optimise best.
"""

import io
import json
import os
import pathlib
import warnings
from typing import Any, Dict, Optional, Tuple, Union

from thermostereo_ros.inference.checkpoint import CheckpointError


ONNX_OPSET = 17
INPUT_NAMES = ('left', 'right')
OUTPUT_NAMES = ('disparity', 'confidence')


def export_onnx(model: Any, height: int, width: int, metadata: Optional[Dict[str, Any]] = None,
                out: Optional[Union[str, pathlib.Path]] = None) -> bytes:
    """Trace an eval-mode network for a 1x1xHxW pair; returns the ONNX bytes (and writes `out`).

    Inputs 'left', 'right' (float32, normalised [0, 1]); outputs 'disparity', 'confidence'.
    """
    # torch takes seconds to import: only where a network runs.
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
        # torch's annotation names paths only; a file object is documented and works.
        torch.onnx.export(model, example, buffer,  # type: ignore[arg-type]
                          input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                          opset_version=ONNX_OPSET, dynamo=False, do_constant_folding=True)
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


def read_onnx_metadata(proto: Any) -> Dict[str, Any]:
    """Recover {'arch', 'config', 'normalization', 'provenance', 'input_size'} from ONNX."""
    props = {p.key: p.value for p in proto.metadata_props}
    meta: Dict[str, Any] = {'arch': props.get('thermostereo_arch', 'unknown')}
    for key in ('config', 'normalization', 'provenance'):
        meta[key] = json.loads(props.get('thermostereo_' + key, '{}'))
    inp = proto.graph.input[0].type.tensor_type.shape.dim
    meta['input_size'] = (int(inp[2].dim_value), int(inp[3].dim_value))
    meta['config'].setdefault('max_disparity', 192)
    return meta


def default_threads() -> int:
    """CPU threads for an ONNX runtime: OMP_NUM_THREADS when set, else 0 (the runtime decides).

    Follows the thread budget the deployment set for torch/OpenMP (ROS nodes share cores).
    """
    env = os.environ.get('OMP_NUM_THREADS', '')
    return int(env) if env.isdigit() and int(env) > 0 else 0


def load_fixed_onnx(path: pathlib.Path) -> Tuple[Any, Dict[str, Any]]:
    """Load an ONNX file exported for one size; returns (proto, metadata), CheckpointError."""
    # an optional runtime: imported only by its backend.
    import onnx

    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # protobuf raises DecodeError and others
        raise CheckpointError(f'{path}: not a readable ONNX file: {exc}') from exc
    return proto, read_onnx_metadata(proto)


def check_fixed_size(fixed: Optional[Tuple[int, int]], height: int, width: int) -> None:
    """Raise ValueError if a fixed-size export is asked for another input size."""
    if fixed is not None and (height, width) != tuple(fixed):
        raise ValueError(f'this ONNX model was exported for {fixed[0]}x{fixed[1]} inputs, got '
                         f'{height}x{width}; export one for this size (thermostereo export)')
