# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The inference backends: what each one runs on and how it is built, and what 'auto' means.

A backend is one runner module (torch_backend.py, onnx_backend.py, ...: a class with
`run(left, right) -> (disparity, confidence)`) plus one BackendSpec registered here. The
engine, the node's parameter checks, the bench and the docs read the specs; `plan` decides
what 'auto' stands for, for the library and the node alike. The runner modules are imported
only when a backend is built, because each pulls in its runtime (onnxruntime, OpenVINO, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
import importlib
import importlib.util
import pathlib
from typing import (Any, Callable, Dict, Mapping, NamedTuple, Optional, Protocol,
                    runtime_checkable, Tuple)

import numpy as np

PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
# Files a checkpoint comes as; every other model file is an export some backend loads.
CHECKPOINT_SUFFIX = '.safetensors'


class Runner(Protocol):
    """What a backend builds: normalised float32 HxW pair in, (disparity, confidence) out."""

    def run(self, left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return float32 HxW disparity and confidence."""


@runtime_checkable
class LeftRightRunner(Runner, Protocol):
    """A runner that also gives the right view's disparity from one pass (for lr_check).

    Runners without it get the right view from a second `run` on the mirrored pair.
    """

    def run_left_right(self, left: np.ndarray, right: np.ndarray
                       ) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Return (disparity, confidence, right view's disparity), or None where it cannot."""


@runtime_checkable
class NetworkRunner(Runner, Protocol):
    """A runner built from a torch network (None where it runs one exported file)."""

    model: Any


@runtime_checkable
class ExportingRunner(NetworkRunner, Protocol):
    """A runner that exports its network per input size, into an export cache if it has one."""

    metadata: Dict[str, Any]
    export_cache: Any  # Optional[ExportCache]; the cache module imports torch lazily


@dataclass(frozen=True)
class BackendSpec:
    """One backend: its packages, devices, precisions per device, files, and builders.

    from_model(model, metadata, device, precision, cache, options) builds a runner from a
    loaded network; from_file(path, device, precision, cache) from an exported file with one
    of `files`' suffixes (None: checkpoints only).
    """

    name: str
    modules: Tuple[str, ...]
    precisions: Mapping[str, Tuple[str, ...]]  # device type ('cpu', 'cuda') -> precisions
    from_model: Callable[..., Runner]
    from_file: Optional[Callable[..., Runner]] = None
    files: Tuple[str, ...] = ()
    caches_exports: bool = False  # keeps exports in an ExportCache between starts
    options: Tuple[str, ...] = ()  # extra from_checkpoint options it takes (cuda_graphs, ...)
    # 'auto' precision may pick bf16 on a CPU with native bf16, inside the network's
    # bf16_modules only.
    scoped_bf16: bool = False

    @property
    def devices(self) -> Tuple[str, ...]:
        """The device types it runs on."""
        return tuple(self.precisions)

    def installed(self) -> bool:
        """Tell whether every package it imports is installed here."""
        return all(importlib.util.find_spec(m) is not None for m in self.modules)


REGISTRY: Dict[str, BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    """Add a backend (a name may be registered once)."""
    if spec.name in REGISTRY or spec.name == 'auto':
        raise ValueError(f'backend {spec.name!r} is already registered')
    REGISTRY[spec.name] = spec
    return spec


def backend_names() -> Tuple[str, ...]:
    """Return the registered backends, in registration order."""
    return tuple(REGISTRY)


def spec(name: str) -> BackendSpec:
    """Return a backend's spec; ValueError naming the choices for an unknown one."""
    if name not in REGISTRY:
        raise ValueError(f'backend {name!r} is not one of {backend_names()} or auto')
    return REGISTRY[name]


class Plan(NamedTuple):
    """What runs: the backend, the device string and the precision, 'auto' resolved."""

    backend: str
    device: str
    precision: str


def plan(device: str, backend: str, precision: str, path: Optional[pathlib.Path] = None,
         arch: Optional[str] = None, cuda_available: Optional[bool] = None) -> Plan:
    """Resolve 'auto' for device, backend and precision, as the node and the library run.

    backend auto, measured rather than assumed (docs/PERFORMANCE.md): TensorRT for serialised
    engines; for a .onnx file OpenVINO if installed, else onnxruntime; for a checkpoint torch
    on CUDA, and on a CPU OpenVINO if installed (faster than torch fp32 on every CPU
    measured), else torch. device auto: CUDA where available and the backend runs there.
    precision auto: bf16 on a CPU with native bf16 (AMX or AVX512_BF16) for a backend with
    scoped_bf16 when the architecture `arch` declares bf16_modules; fp32 everywhere else
    (CUDA waits for the fp16 path to be checked on a lent GPU, scripts/gpu_check.sh).
    Raises ValueError naming the problem for a combination that cannot run.
    """
    suffix = path.suffix.lower() if path is not None else CHECKPOINT_SUFFIX
    if cuda_available is None:
        cuda_available = _cuda_available()
    if backend == 'auto':
        backend = auto_backend(device, suffix, cuda_available)
    chosen = spec(backend)
    device = _resolve_device(device, chosen, cuda_available)
    if precision == 'auto':
        precision = _auto_precision(device, chosen, arch)
    check(chosen, device, precision)
    return Plan(backend, device, precision)


def check(chosen: BackendSpec, device: str, precision: str) -> None:
    """Raise ValueError naming the problem if `chosen` cannot run `precision` on `device`."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision {precision!r} is not one of {PRECISIONS}')
    kind = device.split(':')[0]
    if kind not in chosen.precisions:
        needs = 'a CUDA device' if chosen.devices == ('cuda',) else 'the CPU only'
        raise ValueError(f'backend {chosen.name!r} runs on {needs}, got device={device!r}')
    allowed = chosen.precisions[kind]
    if precision not in allowed:
        hint = (' (fp16 needs a CUDA device; on a CPU use "bf16", fast with AMX or '
                'AVX512_BF16, or "fp32")' if precision == 'fp16' and kind == 'cpu' else '')
        raise ValueError(f'backend {chosen.name!r} on {kind} runs precision '
                         f'{" or ".join(allowed)}, got {precision!r}{hint}')


def _cuda_available() -> bool:
    # torch takes seconds to import: only where a network runs.
    import torch
    return bool(torch.cuda.is_available())


def auto_backend(device: str, suffix: str, cuda_available: bool) -> str:
    """Return the backend 'auto' stands for with this device and model file suffix."""
    # A file only one backend loads (a serialised TensorRT engine) names its backend.
    loaders = [name for name, candidate in REGISTRY.items() if suffix in candidate.files]
    if len(loaders) == 1:
        return loaders[0]
    openvino = 'openvino' in REGISTRY and REGISTRY['openvino'].installed()
    if suffix == '.onnx':
        return 'openvino' if openvino else 'onnxruntime'
    on_cuda = device.startswith('cuda') or (device == 'auto' and cuda_available)
    if on_cuda:
        return 'torch'
    return 'openvino' if openvino else 'torch'


def _resolve_device(device: Any, chosen: BackendSpec, cuda_available: bool) -> str:
    if not isinstance(device, str):
        raise ValueError(f'device must be a string such as "auto", "cpu" or "cuda:0", '
                         f'got {device!r}')
    if device == 'auto':
        return 'cuda' if cuda_available and 'cuda' in chosen.devices else 'cpu'
    kind, _, index = device.partition(':')
    if kind not in ('cpu', 'cuda') or (index and (kind == 'cpu' or not index.isdigit())):
        raise ValueError(f'device {device!r}: only "cpu", "cuda" and "cuda:N" are supported')
    if kind == 'cuda' and not cuda_available:
        raise ValueError(f'device {device!r} requested but CUDA is not available here')
    return device


def _auto_precision(device: str, chosen: BackendSpec, arch: Optional[str]) -> str:
    if device != 'cpu' or not chosen.scoped_bf16:
        return 'fp32'
    # torch takes seconds to import: only where a network runs.
    from thermostereo_ros.inference.cpu_features import cpu_info
    from thermostereo_ros.model import ARCHITECTURES

    scoped = getattr(ARCHITECTURES.get(arch or ''), 'bf16_modules', None) is not None
    return 'bf16' if scoped and cpu_info().native_bf16 else 'fp32'


def _runner_class(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f'thermostereo_ros.inference.{module}'), name)


# The registered backends -------------------------------------------------------------------

register(BackendSpec(
    'torch', ('torch',), {'cpu': ('fp32', 'bf16'), 'cuda': ('fp32', 'fp16', 'bf16')},
    from_model=lambda model, metadata, device, precision, cache, options: _runner_class(
        'torch_backend', 'TorchRunner')(model, device, precision, **options),
    options=('cuda_graphs', 'compile'), scoped_bf16=True))
register(BackendSpec(
    'onnxruntime', ('onnx', 'onnxruntime'), {'cpu': ('fp32',)},
    from_model=lambda model, metadata, device, precision, cache, options: _runner_class(
        'onnx_backend', 'OnnxRuntimeRunner')(model=model, metadata=metadata,
                                             export_cache=cache),
    from_file=lambda path, device, precision, cache: _runner_class(
        'onnx_backend', 'OnnxRuntimeRunner')(onnx_path=path),
    files=('.onnx',), caches_exports=True))
register(BackendSpec(
    'openvino', ('onnx', 'openvino'), {'cpu': ('fp32', 'bf16')},
    from_model=lambda model, metadata, device, precision, cache, options: _runner_class(
        'openvino_backend', 'OpenVINORunner')(model=model, metadata=metadata,
                                              precision=precision, export_cache=cache),
    from_file=lambda path, device, precision, cache: _runner_class(
        'openvino_backend', 'OpenVINORunner')(onnx_path=path, precision=precision,
                                              export_cache=cache),
    files=('.onnx',), caches_exports=True, scoped_bf16=True))
register(BackendSpec(
    'tensorrt', ('tensorrt',), {'cuda': ('fp32', 'fp16')},
    from_model=lambda model, metadata, device, precision, cache, options: _runner_class(
        'tensorrt_backend', 'TensorRTRunner')(model=model, metadata=metadata, device=device,
                                              precision=precision, export_cache=cache),
    from_file=lambda path, device, precision, cache: _runner_class(
        'tensorrt_backend', 'TensorRTRunner')(
            onnx_path=path if path.suffix.lower() == '.onnx' else None,
            engine_path=None if path.suffix.lower() == '.onnx' else path,
            device=device, precision=precision),
    files=('.onnx', '.engine', '.plan'), caches_exports=True))
