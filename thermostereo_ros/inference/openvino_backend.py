# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""OpenVINO runner for StereoEngine (CPU plugin, one compiled model per input size).

It runs the shipped network faster than torch at the same outputs on every CPU measured
(docs/PERFORMANCE.md), which is why it is a backend of its own and `auto` on a CPU.
"""

import pathlib
import tempfile
import threading
from typing import Any, Dict, Optional, Sequence, Tuple
import xml.etree.ElementTree as ElementTree

import numpy as np
import openvino

from thermostereo_ros.inference.export_cache import export_for, ExportCache
from thermostereo_ros.inference.onnx_io import check_fixed_size, default_threads, load_fixed_onnx
from thermostereo_ros.inference.size_cache import SizeCache

# OpenVINO's own names for the precisions StereoEngine accepts on this backend.
_PRECISION_HINTS = {'fp32': 'f32', 'bf16': 'bf16'}
# IR layer types that compute nothing, so need no precision mark.
_UNMARKED_LAYERS = ('Parameter', 'Result', 'Const')


def bf16_scopes(model: Any, metadata: Dict[str, Any]) -> Optional[Tuple[str, ...]]:
    """ONNX name prefixes of the operations that may run in bf16, or None for all of them.

    From the network's `bf16_modules` (module paths such as 'refinement.stem'; the ONNX
    exporter names each operation after the module it was traced in: '/refinement/stem/...').
    A .onnx file carries no network, so its architecture name picks the class.
    """
    # torch takes seconds to import: only where a network runs.
    from thermostereo_ros.model import ARCHITECTURES

    owner = model if model is not None else ARCHITECTURES.get(metadata.get('arch', ''))
    modules = getattr(owner, 'bf16_modules', None)
    if modules is None:
        return None
    return tuple('/' + module.replace('.', '/') + '/' for module in modules)


def keep_fp32_outside(core: Any, model: Any, scopes: Sequence[str]) -> Any:
    """Return a copy of an OpenVINO model whose operations outside `scopes` stay fp32 in bf16.

    The CPU plugin leaves an operation in its original precision when its rt_info holds the
    'precise' attribute (what C++ sets with ov::disable_fp16_compression). Python cannot create
    that attribute, so it is written into the IR XML, whose reader turns it into the real one.
    """
    with tempfile.TemporaryDirectory(prefix='thermostereo_ov_') as folder:
        xml_path = pathlib.Path(folder) / 'model.xml'
        openvino.save_model(model, str(xml_path), compress_to_fp16=False)
        root = ElementTree.parse(xml_path).getroot()
        weights = openvino.Tensor(np.fromfile(xml_path.with_suffix('.bin'), np.uint8))
    scopes = tuple(scopes)
    for layer in root.iter('layer'):
        if layer.get('type') in _UNMARKED_LAYERS or layer.get('name', '').startswith(scopes):
            continue
        rt_info = layer.find('rt_info')
        if rt_info is None:
            rt_info = ElementTree.Element('rt_info')
            layer.insert(0, rt_info)
        ElementTree.SubElement(rt_info, 'attribute', name='precise', version='0')
    return core.read_model(model=ElementTree.tostring(root), weights=weights)


def runtime_precisions(compiled: Any, layer_type: str = 'Convolution') -> Dict[str, int]:
    """Count a compiled model's layers of one type by the precision they execute in."""
    counts: Dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if info['layerType'].astype(str) == layer_type:
            precision = info['runtimePrecision'].astype(str)
            counts[precision] = counts.get(precision, 0) + 1
    return counts


# One OpenVINO Core per cache folder for the whole process, never destroyed. Destroying the
# last Core unloads the CPU plugin, and after a live engine rebuild in the node (old runner
# freed on the worker thread) the process then died of SIGSEGV at the next SIGINT/SIGTERM:
# the kernel could no longer build the main thread's signal frame (its alternate signal stack
# was unmapped). Keeping the plugin loaded avoids that, and a rebuild skips reloading it.
_CORES: Dict[str, Any] = {}
_CORES_LOCK = threading.Lock()


def shared_core(cache_dir: str) -> Any:
    """Return the process's OpenVINO Core for `cache_dir` ('' = no compiled-model cache)."""
    with _CORES_LOCK:
        if cache_dir not in _CORES:
            core = openvino.Core()
            if cache_dir:
                core.set_property({'CACHE_DIR': cache_dir})
            _CORES[cache_dir] = core
        return _CORES[cache_dir]


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
        if (model is None) == (onnx_path is None):
            raise ValueError('give exactly one of model and onnx_path')
        if precision not in _PRECISION_HINTS:
            raise ValueError(f'backend "openvino" supports precision fp32 or bf16, '
                             f'got {precision!r}')
        self.model = model
        self.export_cache = export_cache
        self._core = shared_core(str(export_cache.openvino_dir) if export_cache else '')
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
        # bf16 only where the network allows it (see ThermoStereoRT.bf16_modules).
        self.bf16_scopes = (bf16_scopes(model, self.metadata) if precision == 'bf16'
                            else None)
        if onnx_path is not None:
            entry = self._compile(proto.SerializeToString())
            self._compiled.get(self.fixed_size, lambda: entry)

    def _compile(self, onnx_bytes: bytes) -> Tuple[Any, Any]:
        model = self._core.read_model(onnx_bytes)
        if self.bf16_scopes is not None:
            model = keep_fp32_outside(self._core, model, self.bf16_scopes)
        compiled = self._core.compile_model(model, 'CPU', self._config)
        if self.bf16_scopes is not None and 'f32' not in runtime_precisions(compiled):
            raise RuntimeError(f'OpenVINO {openvino.__version__} ignored the marks that keep '
                               f'the encoder and the disparity arithmetic in fp32; use '
                               f'precision fp32 with this version')
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
