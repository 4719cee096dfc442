# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""OpenVINO runner for StereoEngine (CPU plugin, one compiled model per input size).

On an AVX2 EPYC it ran the shipped network about 1.6x faster than torch fp32 at the same
outputs (docs/PERFORMANCE.md), which is why it is a backend of its own.
"""

import pathlib
from typing import Any, Dict, Optional, Tuple

import numpy as np

from thermostereo_ros.inference.export_cache import export_for, ExportCache
from thermostereo_ros.inference.onnx_io import check_fixed_size, default_threads, load_fixed_onnx
from thermostereo_ros.inference.size_cache import SizeCache

# OpenVINO's own names for the precisions StereoEngine accepts on this backend.
_PRECISION_HINTS = {'fp32': 'f32', 'bf16': 'bf16'}


class OpenVINORunner:
    """Run a network through OpenVINO on the CPU.

    Give either `model` (exported to ONNX and compiled on demand for each new input size,
    kept in a SizeCache) or `onnx_path` (a file exported for one fixed size). With an
    `export_cache`, exports and OpenVINO's compiled models are kept on disk for the next start.
    """

    def __init__(self, model: Any = None, metadata: Optional[Dict[str, Any]] = None,
                 onnx_path: Optional[pathlib.Path] = None, precision: str = 'fp32',
                 num_threads: Optional[int] = None,
                 export_cache: Optional[ExportCache] = None) -> None:
        """Prepare the OpenVINO core; exactly one of `model` and `onnx_path` must be given."""
        import openvino

        if (model is None) == (onnx_path is None):
            raise ValueError('give exactly one of model and onnx_path')
        if precision not in _PRECISION_HINTS:
            raise ValueError(f'backend "openvino" supports precision fp32 or bf16, '
                             f'got {precision!r}')
        self.model = model
        self.export_cache = export_cache
        self._core = openvino.Core()
        if export_cache is not None:
            self._core.set_property({'CACHE_DIR': str(export_cache.openvino_dir)})
        # Without native bf16 the CPU plugin quietly computes in f32; say so instead.
        if precision == 'bf16' and 'BF16' not in self._core.get_property(
                'CPU', 'OPTIMIZATION_CAPABILITIES'):
            raise ValueError('backend "openvino": this CPU has no native bf16 (AMX or '
                             'AVX512_BF16), so OpenVINO would run fp32; use precision fp32')
        # Latency, not throughput: one pair at a time, the newest one.
        self._config = {'PERFORMANCE_HINT': 'LATENCY',
                        'INFERENCE_PRECISION_HINT': _PRECISION_HINTS[precision],
                        'INFERENCE_NUM_THREADS': (default_threads() if num_threads is None
                                                  else int(num_threads)),
                        'ENABLE_CPU_PINNING': False}
        self._compiled: SizeCache[Any] = SizeCache()
        self.fixed_size: Optional[Tuple[int, int]] = None
        self.metadata = metadata or {}
        if onnx_path is not None:
            proto, self.metadata = load_fixed_onnx(onnx_path)
            self.fixed_size = self.metadata['input_size']
            entry = self._compile(proto.SerializeToString())
            self._compiled.get(self.fixed_size, lambda: entry)

    def _compile(self, onnx_bytes: bytes) -> Tuple[Any, Any]:
        compiled = self._core.compile_model(self._core.read_model(onnx_bytes), 'CPU',
                                            self._config)
        return compiled, compiled.create_infer_request()

    def compiled(self, height: int, width: int) -> Tuple[Any, Any]:
        """Return (compiled model, infer request) for this size, exporting if needed."""
        key = (height, width)
        check_fixed_size(self.fixed_size, height, width)

        def create() -> Tuple[Any, Any]:
            return self._compile(export_for(self.model, height, width, self.metadata,
                                            self.export_cache))

        return self._compiled.get(key, create)

    def run(self, left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Map normalised float32 HxW images to (disparity, confidence) float32 HxW."""
        compiled, request = self.compiled(*left.shape)
        outputs = request.infer({'left': left[None, None], 'right': right[None, None]})
        disparity = outputs[compiled.output('disparity')]
        confidence = outputs[compiled.output('confidence')]
        # The request owns its output buffers and reuses them on the next call.
        return disparity[0, 0].copy(), confidence[0, 0].copy()
