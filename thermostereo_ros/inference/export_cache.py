# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""On-disk cache of fixed-size ONNX exports, so that a restarted node skips the torch trace.

Tracing the network to ONNX is most of a CPU node's start-up (docs/PERFORMANCE.md); OpenVINO's
compilation is most of the rest, and OpenVINO caches
that itself under `openvino_dir` (its CACHE_DIR). An export is keyed by everything it is made
of: the weights, the checkpoint metadata, the source of the code that traces it, the torch
version and the input size. Changing any of them writes a new file; nothing is ever reused for
a different network.

The folder is kept under a byte budget (`max_bytes`, default 512 MiB): after each write, the
least recently used files go first, exports and OpenVINO's blobs alike, so that sweeping sizes
or weights cannot fill a Jetson's disk. A pruned file only costs its next start the trace.
"""

import hashlib
import json
import os
import pathlib
import tempfile
import weakref
from stat import S_ISREG
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

from thermostereo_ros.geometry.image_size import parse_size, Size
from thermostereo_ros.inference.onnx_io import export_onnx, ONNX_OPSET, read_onnx_metadata

PathLike = Union[str, os.PathLike]
Value = TypeVar('Value')

# The modules whose code decides what a trace produces: the network and the exporter.
_TRACED_SOURCES = ('model', 'inference/onnx_io.py')
# About 100 exports at 640x256 (2.5 MB each, plus OpenVINO's 2 MB blob for each).
DEFAULT_MAX_BYTES = 512 * 2 ** 20


def default_cache_dir() -> pathlib.Path:
    """Return $XDG_CACHE_HOME/thermostereo/exports (~/.cache/thermostereo/exports if unset)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return pathlib.Path(base) / 'thermostereo' / 'exports'


def _source_digest() -> str:
    package = pathlib.Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for entry in _TRACED_SOURCES:
        path = package / entry
        for source in sorted(path.rglob('*.py')) if path.is_dir() else [path]:
            digest.update(source.relative_to(package).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


def model_fingerprint(model: Any, metadata: Optional[Dict[str, Any]]) -> str:
    """Return the SHA-256 of the weights (names, dtypes, values), metadata, code and torch."""
    # torch takes seconds to import: only where a network runs.
    import torch

    digest = hashlib.sha256()
    digest.update(json.dumps({'torch': torch.__version__, 'opset': ONNX_OPSET,
                              'source': _source_digest(), 'metadata': metadata or {}},
                             sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f'{name}:{tensor.dtype}:{tuple(tensor.shape)}'.encode())
        # Through uint8 because numpy has no bfloat16; the bytes are what matter.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class ExportCache:
    """ONNX exports under `root`, one file per (network, input size), written atomically."""

    def __init__(self, root: Optional[PathLike] = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        """Use `root` (default: default_cache_dir()), created on the first write.

        `max_bytes`: what the folder may hold; older files are removed past it.
        """
        self.root = pathlib.Path(root).expanduser() if root else default_cache_dir()
        self.max_bytes = int(max_bytes)
        # Per model object, computed once: a runner's weights and metadata are fixed at load.
        self._fingerprints: 'weakref.WeakKeyDictionary[Any, str]' = weakref.WeakKeyDictionary()

    def remember_warm_size(self, owner: str, size: Size) -> None:
        """Record the (height, width) `owner` (a node's full name) last warmed up for."""
        path = self._warm_size_path(owner)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f'.{os.getpid()}.tmp')
        tmp.write_text(json.dumps({'owner': owner, 'size': [int(size[0]), int(size[1])]}))
        os.replace(tmp, path)

    def warm_size(self, owner: str) -> Optional[Size]:
        """Return what `owner` last warmed up for, or None (never, or an unreadable record)."""
        try:
            record = json.loads(self._warm_size_path(owner).read_text())
            height, width = (int(v) for v in record['size'])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return (height, width) if record.get('owner') == owner else None

    def _warm_size_path(self, owner: str) -> pathlib.Path:
        # One small file per owner: nodes never share (or race on) a record.
        safe = ''.join(c if c.isalnum() or c in '-_' else '_' for c in owner.strip('/'))
        digest = hashlib.sha256(owner.encode()).hexdigest()[:8]
        return self.root / 'warm_sizes' / f'{safe or "root"}_{digest}.json'

    @property
    def openvino_dir(self) -> pathlib.Path:
        """Where OpenVINO keeps its compiled models (its CACHE_DIR)."""
        return self.root / 'openvino'

    def built(self, onnx_bytes: bytes, target: Dict[str, Any], build: Callable[[], bytes],
              load: Callable[[bytes], Value]) -> Value:
        """Return load(a cached build of `onnx_bytes` for `target`), building it if absent.

        For runtimes that compile an export into a binary of their own (a TensorRT engine):
        `target` names what the binary is only valid for (runtime version, GPU, precision).
        A cached binary that `load` refuses is rebuilt and replaced.
        """
        digest = hashlib.sha256(onnx_bytes)
        digest.update(json.dumps(target, sort_keys=True, default=str).encode())
        path = self.root / 'built' / f'{digest.hexdigest()[:32]}.bin'
        try:
            value = load(path.read_bytes())
            _touch(path)
            return value
        except Exception:  # absent, unreadable or refused: build it again
            pass
        data = build()
        self._write(path, data)
        return load(data)

    def _key(self, model: Any, metadata: Optional[Dict[str, Any]]) -> str:
        if model not in self._fingerprints:
            self._fingerprints[model] = model_fingerprint(model, metadata)[:32]
        return self._fingerprints[model]

    def path(self, model: Any, height: int, width: int,
             metadata: Optional[Dict[str, Any]]) -> pathlib.Path:
        """Return the file that holds (or will hold) this network's export at height x width."""
        return self.root / f'{self._key(model, metadata)}_{width}x{height}.onnx'

    def sizes(self, model: Any, metadata: Optional[Dict[str, Any]]) -> List[Size]:
        """Return the (height, width) this network has exports for, most recently used first."""
        found = []
        for path in self.root.glob(f'{self._key(model, metadata)}_*.onnx'):
            try:
                found.append((path.stat().st_mtime, parse_size(path.stem.split('_', 1)[1])))
            except (OSError, ValueError):  # removed meanwhile, or not a name this cache writes
                continue
        return [size for _, size in sorted(found, reverse=True)]

    def onnx(self, model: Any, height: int, width: int,
             metadata: Optional[Dict[str, Any]] = None) -> bytes:
        """Return this network's ONNX export at height x width: cached, else traced now.

        A cached file that is not a readable ONNX model of this size (truncated, or written
        by something else) is traced again and replaced.
        """
        path = self.path(model, height, width, metadata)
        cached = self._read(path, height, width)
        if cached is not None:
            _touch(path)
            return cached
        data = export_onnx(model, height, width, metadata)
        self._write(path, data)
        return data

    @staticmethod
    def _read(path: pathlib.Path, height: int, width: int) -> Optional[bytes]:
        # an optional runtime: imported only by its backend.
        import onnx

        try:
            data = path.read_bytes()
            proto = onnx.load_from_string(data)
            if read_onnx_metadata(proto)['input_size'] == (height, width):
                return data
        except Exception:  # missing, unreadable or not ONNX: all mean "trace it again"
            pass
        return None

    def files(self) -> List[pathlib.Path]:
        """Return what the cache holds (exports, runtime builds, OpenVINO's blobs), oldest first.

        "Oldest" is the least recently used: reads touch a file's modification time.
        """
        return [path for _, _, path in self._entries()]

    def _entries(self) -> List[Tuple[float, int, pathlib.Path]]:
        found = []
        for pattern in ('*.onnx', 'built/*.bin', 'openvino/*'):
            for path in self.root.glob(pattern):
                try:
                    stat = path.stat()
                except OSError:  # removed meanwhile
                    continue
                if S_ISREG(stat.st_mode):
                    found.append((stat.st_mtime, stat.st_size, path))
        return sorted(found)

    def prune(self, keep: Optional[pathlib.Path] = None) -> List[pathlib.Path]:
        """Remove the least recently used files until the folder fits max_bytes.

        `keep` (the file just written) is never removed, even if it alone is over the budget.
        Returns the removed files.
        """
        entries = self._entries()
        total, removed = sum(size for _, size, _ in entries), []
        for _, size, path in entries:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            try:
                path.unlink()
            except OSError:  # another process removed it, or the folder is read-only
                continue
            total -= size
            removed.append(path)
        return removed

    def _write(self, path: pathlib.Path, data: bytes) -> None:
        self._write_file(path, data)
        self.prune(keep=path)

    @staticmethod
    def _write_file(path: pathlib.Path, data: bytes) -> None:
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so that a concurrent reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.tmp')
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
            os.replace(tmp, path)
        except OSError:
            # A read-only or full disk costs the next start its speed-up, nothing else.
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)


def _touch(path: pathlib.Path) -> None:
    try:
        os.utime(path)  # "most recently used", for sizes() and prune()
    except OSError:
        pass


def export_for(model: Any, height: int, width: int, metadata: Optional[Dict[str, Any]],
               cache: Optional[ExportCache]) -> bytes:
    """Return ONNX bytes for this size: through `cache` when there is one, else traced now."""
    if cache is None:
        return export_onnx(model, height, width, metadata)
    return cache.onnx(model, height, width, metadata)
