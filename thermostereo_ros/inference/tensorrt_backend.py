# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""TensorRT runner for StereoEngine (Jetson / NVIDIA GPUs); needs `import tensorrt` to work.

Engines are built from the ONNX export for one input size (cached per size in memory, and
on disk with an export cache: a build takes minutes on a Jetson), or loaded from a serialised
engine file made with `thermostereo export --format tensorrt` or
trtexec (see docs/ARCHITECTURE.md). Buffers are torch CUDA tensors, so no pycuda is needed.
Written against the TensorRT 10 tensor API (set_tensor_address / execute_async_v3), also
present in 8.6.
"""

import json
import pathlib
from typing import Any, Dict, Optional, Tuple

import numpy as np
import onnx
import torch

from thermostereo_ros.inference.export_cache import export_for, ExportCache
from thermostereo_ros.inference.onnx_io import export_onnx, read_onnx_metadata

_WORKSPACE_BYTES = 1 << 30


def _import_tensorrt() -> Any:
    try:  # here, so that this module imports without TensorRT and says what is missing
        import tensorrt
    except ImportError as exc:
        raise ImportError(
            'backend "tensorrt" needs the TensorRT Python package (`import tensorrt` failed: '
            f'{exc}); on Jetson it ships with JetPack, on x86 install the tensorrt wheel, or '
            'use backend="torch"/"onnxruntime"') from exc
    return tensorrt


def build_serialized_engine(onnx_bytes: bytes, fp16: bool = False) -> bytes:
    """Parse ONNX bytes and build a serialised TensorRT engine."""
    trt = _import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, 'EXPLICIT_BATCH'):
        # Required before TensorRT 10, deprecated (and implicit) from 10 on.
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f'TensorRT could not parse the ONNX model: {errors}')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, _WORKSPACE_BYTES)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError('TensorRT engine build failed (see the TensorRT log above)')
    return bytes(serialized)


def build_engine_file(model: Any, height: int, width: int, metadata: Dict[str, Any],
                      out: pathlib.Path, fp16: bool = False) -> pathlib.Path:
    """Export `model` to ONNX and build a TensorRT engine file; metadata goes to a .json."""
    _import_tensorrt()
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(build_serialized_engine(export_onnx(model, height, width, metadata), fp16))
    sidecar = dict(metadata, input_size=[height, width])
    out.with_suffix(out.suffix + '.json').write_text(json.dumps(sidecar, indent=1))
    return out


class _EngineSlot:
    """A deserialised engine with its execution context and bound torch buffers."""

    def __init__(self, trt: Any, runtime: Any, serialized: bytes, device: Any) -> None:
        self.engine = runtime.deserialize_cuda_engine(serialized)
        if self.engine is None:
            raise RuntimeError('TensorRT could not deserialise the engine (built with another '
                               'TensorRT version or GPU?)')
        self.context = self.engine.create_execution_context()
        self.buffers: Dict[str, Any] = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            dtype = torch.from_numpy(np.zeros(0, trt.nptype(
                self.engine.get_tensor_dtype(name)))).dtype
            self.buffers[name] = torch.empty(shape, dtype=dtype, device=device)
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self.size = tuple(self.buffers['left'].shape[-2:])


class TensorRTRunner:
    """Run a network through TensorRT on a CUDA device."""

    def __init__(self, model: Any = None, metadata: Optional[Dict[str, Any]] = None,
                 onnx_path: Optional[pathlib.Path] = None,
                 engine_path: Optional[pathlib.Path] = None, device: str = 'cuda',
                 precision: str = 'fp32', export_cache: Optional[ExportCache] = None) -> None:
        """Give one of model (built per input size), onnx_path or engine_path."""
        if sum(x is not None for x in (model, onnx_path, engine_path)) != 1:
            raise ValueError('give exactly one of model, onnx_path and engine_path')
        self.trt = _import_tensorrt()
        self.runtime = self.trt.Runtime(self.trt.Logger(self.trt.Logger.WARNING))
        self.device = torch.device(device)
        self.fp16 = precision == 'fp16'
        self.model = model
        self.export_cache = export_cache
        self.metadata = metadata or {}
        self._slots: Dict[Tuple[int, int], _EngineSlot] = {}
        self.fixed = False
        if onnx_path is not None:
            proto = onnx.load(str(onnx_path))
            self.metadata = read_onnx_metadata(proto)
            self._add(build_serialized_engine(proto.SerializeToString(), self.fp16))
            self.fixed = True
        elif engine_path is not None:
            sidecar = pathlib.Path(str(engine_path) + '.json')
            self.metadata = (json.loads(sidecar.read_text()) if sidecar.is_file()
                             else {'arch': 'unknown', 'config': {}, 'normalization': {},
                                   'provenance': {}})
            self.metadata.setdefault('config', {}).setdefault('max_disparity', 192)
            self._add(pathlib.Path(engine_path).read_bytes())
            self.fixed = True

    def _add(self, serialized: bytes) -> _EngineSlot:
        with torch.cuda.device(self.device):
            slot = _EngineSlot(self.trt, self.runtime, serialized, self.device)
        self._slots[slot.size] = slot
        return slot

    def _slot(self, height: int, width: int) -> _EngineSlot:
        key = (height, width)
        if key not in self._slots:
            if self.fixed:
                size = next(iter(self._slots))
                raise ValueError(f'this TensorRT engine was built for {size[0]}x{size[1]} '
                                 f'inputs, got {height}x{width}')
            onnx_bytes = export_for(self.model, height, width, self.metadata,
                                    self.export_cache)
            if self.export_cache is None:
                self._add(build_serialized_engine(onnx_bytes, self.fp16))
            else:
                self.export_cache.built(
                    onnx_bytes, self._target(),
                    lambda: build_serialized_engine(onnx_bytes, self.fp16), self._add)
        return self._slots[key]

    def _target(self) -> Dict[str, Any]:
        # A serialised engine is only valid for the TensorRT version and GPU that built it.

        props = torch.cuda.get_device_properties(self.device)
        return {'runtime': 'tensorrt', 'version': self.trt.__version__, 'gpu': props.name,
                'capability': f'{props.major}.{props.minor}', 'fp16': self.fp16}

    def run(self, left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Map normalised float32 HxW images to (disparity, confidence) float32 HxW."""
        slot = self._slot(*left.shape)
        stream = torch.cuda.current_stream(self.device)
        slot.buffers['left'].copy_(torch.from_numpy(left).view_as(slot.buffers['left']))
        slot.buffers['right'].copy_(torch.from_numpy(right).view_as(slot.buffers['right']))
        if not slot.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError('TensorRT execution failed')
        stream.synchronize()
        return (slot.buffers['disparity'][0, 0].float().cpu().numpy(),
                slot.buffers['confidence'][0, 0].float().cpu().numpy())
