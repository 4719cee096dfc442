# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""onnxruntime runner for StereoEngine (CPUExecutionProvider, one session per input size)."""

import pathlib
from typing import Any, Dict, Optional, Tuple

import numpy as np
import onnxruntime as ort

from thermostereo_ros.inference.export_cache import export_for, ExportCache
from thermostereo_ros.inference.onnx_io import check_fixed_size, default_threads, load_fixed_onnx
from thermostereo_ros.inference.size_cache import SizeCache


def _session_options(num_threads: Optional[int]) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = default_threads() if num_threads is None else num_threads
    options.inter_op_num_threads = 1
    return options


class OnnxRuntimeRunner:
    """Run a network through onnxruntime.

    Give either `model` (exported on demand for each new input size, sessions cached in
    memory) or `onnx_path` (a file exported for one fixed size). With an `export_cache`,
    exports are kept on disk for the next start.
    """

    def __init__(self, model: Any = None, metadata: Optional[Dict[str, Any]] = None,
                 onnx_path: Optional[pathlib.Path] = None,
                 num_threads: Optional[int] = None,
                 export_cache: Optional[ExportCache] = None) -> None:
        """Prepare sessions; exactly one of `model` and `onnx_path` must be given."""
        if (model is None) == (onnx_path is None):
            raise ValueError('give exactly one of model and onnx_path')
        self.model = model
        self.export_cache = export_cache
        self._options = _session_options(num_threads)
        self._sessions: SizeCache[Any] = SizeCache()
        self.fixed_size: Optional[Tuple[int, int]] = None
        if onnx_path is not None:
            proto, metadata = load_fixed_onnx(onnx_path)
            self.fixed_size = metadata['input_size']
            session = self._new_session(proto.SerializeToString())
            self._sessions.get(self.fixed_size, lambda: session)
        self.metadata = metadata or {}

    def _new_session(self, data: bytes) -> Any:
        return ort.InferenceSession(data, self._options, providers=['CPUExecutionProvider'])

    def session(self, height: int, width: int) -> Any:
        """Return the session for this input size, exporting the model if needed."""
        key = (height, width)
        check_fixed_size(self.fixed_size, height, width)

        def create() -> Any:
            return self._new_session(export_for(self.model, height, width, self.metadata,
                                                self.export_cache))

        return self._sessions.get(key, create)

    def run(self, left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Map normalised float32 HxW images to (disparity, confidence) float32 HxW."""
        sess = self.session(*left.shape)
        disp, conf = sess.run(['disparity', 'confidence'],
                              {'left': left[None, None], 'right': right[None, None]})
        return disp[0, 0], conf[0, 0]
