# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""onnxruntime runner for StereoEngine (CPUExecutionProvider, one session per input size)."""

import os
import pathlib
from typing import Any, Dict, Optional, Tuple

import numpy as np

from thermostereo_ros.inference.size_cache import SizeCache


def _session_options(num_threads: Optional[int]):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if num_threads is None:
        # Follow the thread budget the deployment set for torch/OpenMP (ROS nodes share cores).
        env = os.environ.get('OMP_NUM_THREADS', '')
        num_threads = int(env) if env.isdigit() and int(env) > 0 else 0
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return options


class OnnxRuntimeRunner:
    """Run a network through onnxruntime.

    Give either `model` (exported on demand for each new input size, sessions cached in
    memory) or `onnx_path` (a file exported for one fixed size).
    """

    def __init__(self, model: Any = None, metadata: Optional[Dict[str, Any]] = None,
                 onnx_path: Optional[pathlib.Path] = None,
                 num_threads: Optional[int] = None) -> None:
        """Prepare sessions; exactly one of `model` and `onnx_path` must be given."""
        import onnx

        if (model is None) == (onnx_path is None):
            raise ValueError('give exactly one of model and onnx_path')
        self.model = model
        self._options = _session_options(num_threads)
        self._sessions: SizeCache[Any] = SizeCache()
        self.fixed_size: Optional[Tuple[int, int]] = None
        if onnx_path is not None:
            from thermostereo_ros.inference.onnx_io import read_onnx_metadata
            from thermostereo_ros.inference.checkpoint import CheckpointError

            try:
                proto = onnx.load(str(onnx_path))
            except Exception as exc:  # protobuf raises DecodeError and others
                raise CheckpointError(f'{onnx_path}: not a readable ONNX file: {exc}') from exc
            metadata = read_onnx_metadata(proto)
            self.fixed_size = metadata['input_size']
            session = self._new_session(proto.SerializeToString())
            self._sessions.get(self.fixed_size, lambda: session)
        self.metadata = metadata or {}

    def _new_session(self, data: bytes):
        import onnxruntime as ort

        return ort.InferenceSession(data, self._options, providers=['CPUExecutionProvider'])

    def session(self, height: int, width: int):
        """Return the session for this input size, exporting the model if needed."""
        key = (height, width)
        if self.fixed_size is not None and key != self.fixed_size:
            raise ValueError(f'this ONNX model was exported for {self.fixed_size[0]}x'
                             f'{self.fixed_size[1]} inputs, got {height}x{width}; '
                             'export one for this size (thermostereo export)')

        def create() -> Any:
            from thermostereo_ros.inference.onnx_io import export_onnx
            return self._new_session(export_onnx(self.model, height, width, self.metadata))

        return self._sessions.get(key, create)

    def run(self, left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Map normalised float32 HxW images to (disparity, confidence) float32 HxW."""
        sess = self.session(*left.shape)
        disp, conf = sess.run(['disparity', 'confidence'],
                              {'left': left[None, None], 'right': right[None, None]})
        return disp[0, 0], conf[0, 0]
