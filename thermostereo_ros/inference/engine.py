# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""StereoEngine: validated numpy-in, numpy-out disparity inference over a chosen backend.

torch is imported lazily (inside functions), so importing this module is cheap for tools
that only need StereoResult or default_checkpoint.
"""

import dataclasses
import pathlib
from typing import Any, Dict, List, Optional, Protocol, Tuple, Union

import numpy as np

from thermostereo_ros.data.normalization import MODES, normalize_pair
from thermostereo_ros.inference import backends
from thermostereo_ros.inference.checkpoint import (check_model_file, CheckpointError,
                                                   read_architecture)
from thermostereo_ros.inference.export_cache import ExportCache
from thermostereo_ros.inference.left_right import mirrored_pair, unmirror

BACKENDS = backends.backend_names()
_INPUT_KINDS = ('u', 'f')
PathLike = Union[str, pathlib.Path]

DEFAULT_WEIGHTS = 'thermostereo_rt_default.safetensors'


@dataclasses.dataclass
class StereoResult:
    """One inference result at input resolution.

    `disparity`: float32 HxW, left-view disparity in input pixels (>= 0).
    `confidence`: float32 HxW in [0, 1] (peak matching probability; low = ambiguous).
    """

    disparity: np.ndarray
    confidence: np.ndarray


def default_checkpoint() -> pathlib.Path:
    """Path of the shipped default weights; CheckpointError if the installation lacks them."""
    path = pathlib.Path(__file__).resolve().parents[1] / 'weights' / DEFAULT_WEIGHTS
    if not path.is_file():
        raise CheckpointError(
            f'{path}: no default weights in this installation of thermostereo_ros (reinstall '
            'it); or pass the path of a trained .safetensors checkpoint explicitly')
    return path


class FixedMaxDisparityError(ValueError):
    """The weights fix max_disparity, so another value cannot be used (load without it)."""


class DisparityEngine(Protocol):
    """What a node needs from an inference engine (StereoEngine is one)."""

    @property
    def device(self) -> str:
        """Device the network runs on."""

    @property
    def backend(self) -> str:
        """Backend that runs it."""

    @property
    def precision(self) -> str:
        """Precision it runs in."""

    @property
    def trained_range(self) -> int:
        """Largest disparity its network can output (px): its model config's max_disparity."""

    def infer(self, left: np.ndarray, right: np.ndarray) -> StereoResult:
        """Return disparity and confidence for a rectified pair."""

    def infer_left_right(self, left: np.ndarray, right: np.ndarray
                         ) -> Tuple[StereoResult, np.ndarray]:
        """Return infer's result and the right view's disparity (for lr_check)."""

    def warmup(self, height: int, width: int) -> None:
        """Prepare for this input size so that the first real frame is not slow."""


def resolve_checkpoint(path: Optional[PathLike]) -> pathlib.Path:
    """Return the checkpoint a user means: `path` (with ~ expanded), or the shipped weights."""
    return default_checkpoint() if not path else pathlib.Path(path).expanduser()


def validate_options(backend: str, precision: str, device: str, cuda_graphs: bool = False,
                     compile: bool = False) -> None:
    """Raise ValueError naming the problem if this combination cannot run (device resolved)."""
    backends.check(backends.spec(backend), device, precision)
    options = backends.spec(backend).options
    if cuda_graphs and ('cuda_graphs' not in options or not device.startswith('cuda')):
        raise ValueError('cuda_graphs=True needs backend="torch" on a CUDA device')
    if compile and 'compile' not in options:
        raise ValueError('compile=True applies to backend="torch" only')


def _validate_max_disparity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f'max_disparity must be a positive integer, got {value!r}')
    return int(value)


class StereoEngine:
    """Thermal stereo inference: raw image pair in, disparity and confidence out.

    Build with `StereoEngine.from_checkpoint(...)`. `infer(left, right)` validates the pair,
    normalises it with the checkpoint's normalisation and runs the backend.
    """

    def __init__(self, runner: backends.Runner, metadata: Dict[str, Any], device: str,
                 backend: str, precision: str, trained_range: int) -> None:
        """Wrap a backend runner (use from_checkpoint; this is the low-level constructor)."""
        self._runner = runner
        self._metadata = metadata
        self._device = device
        self._backend = backend
        self._precision = precision
        self._trained_range = trained_range
        norm = dict(metadata.get('normalization') or {})
        self._norm_mode = norm.get('mode', 'joint')
        if self._norm_mode not in MODES:
            raise CheckpointError(f'checkpoint normalisation mode {self._norm_mode!r} is not '
                                  f'one of {MODES}')
        self._norm_low = float(norm.get('low', 1.0))
        self._norm_high = float(norm.get('high', 99.0))

    @classmethod
    def from_checkpoint(cls, path: Optional[PathLike] = None, device: str = 'auto',
                        precision: str = 'auto', backend: str = 'auto',
                        max_disparity: Optional[int] = None, cuda_graphs: bool = False,
                        compile: bool = False,
                        warmup_size: Optional[Tuple[int, int]] = None,
                        export_cache_dir: Optional[PathLike] = None) -> 'StereoEngine':
        """Load a checkpoint and prepare a backend.

        path: .safetensors checkpoint (None = default_checkpoint()), or a .onnx file for
        backend 'onnxruntime'/'openvino'/'tensorrt', or a serialised TensorRT engine
        (.engine/.plan).
        backend: one of BACKENDS, or 'auto' (the default, as the node: see backends.plan).
        device: 'auto' (CUDA when available, except onnxruntime and openvino), 'cpu', 'cuda',
        'cuda:N'.
        precision: 'auto' (see backends.plan), 'fp32', 'fp16'/'bf16' autocast on CUDA
        ('fp16' builds a TensorRT fp16 engine), or 'bf16' on CPU with torch or openvino.
        max_disparity: override, only for architectures whose weights do not depend on it.
        cuda_graphs/compile: torch backend speed-ups for a fixed input size.
        warmup_size: (height, width) to warm up (and capture graphs/engines) now instead of at
        the first infer call.
        export_cache_dir: keep ONNX exports (and OpenVINO's compiled models, TensorRT's
        engines) in this folder, so that the next start at the same size skips them
        (onnxruntime, openvino, tensorrt from a checkpoint); None: no cache.
        """
        if backend != 'auto':
            backends.spec(backend)  # an unknown name fails before the file is read
        path = resolve_checkpoint(path)
        suffix = path.suffix.lower()
        arch = read_architecture(path) if precision == 'auto' else None
        backend, device, precision = backends.plan(device, backend, precision, path, arch)
        validate_options(backend, precision, device, bool(cuda_graphs), bool(compile))
        if max_disparity is not None:
            max_disparity = _validate_max_disparity(max_disparity)
        if warmup_size is not None and (len(warmup_size) != 2
                                        or min(int(v) for v in warmup_size) <= 0):
            raise ValueError(f'warmup_size must be (height, width) > 0, got {warmup_size!r}')
        cache = ExportCache(export_cache_dir) if export_cache_dir is not None else None
        if suffix != backends.CHECKPOINT_SUFFIX:
            runner, metadata = cls._runner_from_exported(path, suffix, backend, device,
                                                         precision, max_disparity, cache)
        else:
            runner, metadata = cls._runner_from_checkpoint(
                path, backend, device, precision, max_disparity, cuda_graphs, compile, cache)
        engine = cls(runner, metadata, device, backend, precision,
                     int(metadata['config']['max_disparity']))
        if warmup_size is not None:
            engine.warmup(int(warmup_size[0]), int(warmup_size[1]))
        return engine

    @staticmethod
    def _runner_from_checkpoint(path: pathlib.Path, backend: str, device: str,
                                precision: str, max_disparity: Optional[int],
                                cuda_graphs: bool, compile: bool,
                                cache: Optional[ExportCache]
                                ) -> Tuple[backends.Runner, Dict[str, Any]]:
        # torch takes seconds to import: only where a network runs.
        from thermostereo_ros.inference.checkpoint import build_from_checkpoint, load_checkpoint
        from thermostereo_ros.model import ARCHITECTURES

        overrides = {}
        if max_disparity is not None:
            _, meta = load_checkpoint(path)
            stored = int(meta['config'].get('max_disparity', 192))
            arch_cls = ARCHITECTURES.get(meta['arch'])
            # An unknown architecture is reported by build_from_checkpoint below.
            if max_disparity != stored and arch_cls is not None:
                if getattr(arch_cls, 'disparity_in_weights', True):
                    raise FixedMaxDisparityError(
                        f'{path}: architecture {meta["arch"]!r} was trained with '
                        f'max_disparity={stored} and its weights depend on it (disparities '
                        f'are input channels of the aggregation), so it cannot be run with '
                        f'max_disparity={max_disparity}; retrain or omit the override')
                overrides['max_disparity'] = max_disparity
        try:
            model, metadata = build_from_checkpoint(path, 'cpu', **overrides)
        except CheckpointError as exc:
            if overrides and 'config does not fit' in str(exc):
                raise ValueError(f'max_disparity={max_disparity} is not valid for this '
                                 f'architecture: {exc}') from exc
            raise
        options = {'cuda_graphs': cuda_graphs, 'compile': compile} \
            if backends.spec(backend).options else {}
        return (backends.spec(backend).from_model(model, metadata, device, precision, cache,
                                                  options), metadata)

    @staticmethod
    def _runner_from_exported(path: pathlib.Path, suffix: str, backend: str, device: str,
                              precision: str, max_disparity: Optional[int],
                              cache: Optional[ExportCache]
                              ) -> Tuple[backends.Runner, Dict[str, Any]]:
        check_model_file(path)
        chosen = backends.spec(backend)
        if suffix not in chosen.files or chosen.from_file is None:
            loaders = {name: b.files for name, b in backends.REGISTRY.items() if b.from_file}
            raise ValueError(f'{path}: a {suffix} file cannot run on backend {backend!r}; '
                             f'exported files each backend loads: {loaders}, or pass the '
                             '.safetensors checkpoint')
        runner = chosen.from_file(path, device, precision, cache)
        metadata: Dict[str, Any] = getattr(runner, 'metadata')  # exported files carry it
        stored = int(metadata['config']['max_disparity'])
        if max_disparity is not None and max_disparity != stored:
            raise FixedMaxDisparityError(
                f'{path}: an exported model has a fixed max_disparity={stored}; '
                f'cannot run it with max_disparity={max_disparity}')
        return runner, metadata

    @property
    def device(self) -> str:
        """Device the network runs on ('cpu', 'cuda', 'cuda:N')."""
        return self._device

    @property
    def backend(self) -> str:
        """'torch', 'onnxruntime', 'openvino' or 'tensorrt'."""
        return self._backend

    @property
    def precision(self) -> str:
        """'fp32', 'fp16' or 'bf16'."""
        return self._precision

    @property
    def trained_range(self) -> int:
        """Largest disparity (full-resolution px) the network can output (its max_disparity)."""
        return self._trained_range

    @property
    def network(self) -> Any:
        """The torch network the engine runs or exports from; None for an exported file."""
        return self._runner.model if isinstance(self._runner, backends.NetworkRunner) else None

    @property
    def metadata(self) -> Dict[str, Any]:
        """Checkpoint metadata: arch, config, normalization, provenance."""
        return self._metadata

    def warmup(self, height: int, width: int) -> None:
        """Run the backend once on a blank pair of this size (allocations, autotuning)."""
        blank = np.zeros((height, width), np.float32)
        self._runner.run(blank, blank)

    def remember_size(self, owner: str, height: int, width: int) -> None:
        """Record in the export cache that `owner` (a node's full name) runs at this size."""
        cache = self._export_cache()
        if cache is not None:
            cache.remember_warm_size(owner, (height, width))

    def remembered_size(self, owner: str) -> Optional[Tuple[int, int]]:
        """Return the size `owner` last ran at, if the export cache holds this network at it."""
        cache = self._export_cache()
        size = cache.warm_size(owner) if cache is not None else None
        return size if size is not None and size in self.cached_sizes() else None

    def cached_sizes(self) -> List[Tuple[int, int]]:
        """Return the (height, width) the export cache holds for this network, newest first.

        Empty without an export cache, or for a backend that does not use one.
        """
        runner = self._runner
        if (not isinstance(runner, backends.ExportingRunner) or runner.export_cache is None
                or runner.model is None):  # None: a runner of one exported file
            return []
        return runner.export_cache.sizes(runner.model, runner.metadata)

    def _export_cache(self) -> Any:
        # Only backends that export per size (backends.ExportingRunner) keep a cache.
        if isinstance(self._runner, backends.ExportingRunner):
            return self._runner.export_cache
        return None

    @staticmethod
    def _check_pair(left: Any, right: Any) -> None:
        for name, image in (('left', left), ('right', right)):
            if not isinstance(image, np.ndarray):
                raise ValueError(f'{name} image must be a numpy array, got '
                                 f'{type(image).__name__}')
        if left.shape != right.shape or left.dtype != right.dtype:
            raise ValueError(f'left and right must have the same shape and dtype: left '
                             f'{left.shape} {left.dtype}, right {right.shape} {right.dtype}')
        if left.ndim != 2:
            raise ValueError(f'expected single-channel HxW images, got shape {left.shape}')
        if left.size == 0:
            raise ValueError(f'empty images: shape {left.shape}')
        if left.dtype.kind not in _INPUT_KINDS or left.dtype.itemsize > 8:
            raise ValueError(f'unsupported dtype {left.dtype}: pass uint8, uint16 or float '
                             'images')
        if left.dtype.kind == 'f':
            for name, image in (('left', left), ('right', right)):
                if not np.isfinite(image).all():
                    raise ValueError(f'{name} image contains NaN or infinite values')

    def infer_left_right(self, left: np.ndarray, right: np.ndarray
                         ) -> Tuple[StereoResult, np.ndarray]:
        """Return the left view's result and the right view's disparity (left_right module).

        With torch, the mirrored pair shares one batch and skips the refinement
        (`forward_left_right`); the exported backends are traced for one pair and size, so
        they run the mirrored pair as a second call.
        """
        self._check_pair(left, right)
        left_n, right_n = normalize_pair(left, right, self._norm_mode, self._norm_low,
                                         self._norm_high)
        outputs = (self._runner.run_left_right(left_n, right_n)
                   if isinstance(self._runner, backends.LeftRightRunner) else None)
        if outputs is not None:
            disparity, confidence, right_disparity = outputs
        else:
            disparity, confidence = self._runner.run(left_n, right_n)
            right_disparity = unmirror(self._runner.run(*mirrored_pair(left_n, right_n))[0])
        result = StereoResult(np.ascontiguousarray(disparity, dtype=np.float32),
                              np.ascontiguousarray(confidence, dtype=np.float32))
        return result, np.ascontiguousarray(right_disparity, dtype=np.float32)

    def infer(self, left: np.ndarray, right: np.ndarray) -> StereoResult:
        """Estimate left-view disparity for a rectified HxW thermal pair.

        Accepts uint8, uint16 or float images of identical shape and dtype.
        """
        self._check_pair(left, right)
        left_n, right_n = normalize_pair(left, right, self._norm_mode, self._norm_low,
                                         self._norm_high)
        disparity, confidence = self._runner.run(left_n, right_n)
        return StereoResult(np.ascontiguousarray(disparity, dtype=np.float32),
                            np.ascontiguousarray(confidence, dtype=np.float32))
