# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Safetensors checkpoints with JSON metadata; pickle-based files are refused.

Checkpoints come from outside (downloads, colleagues, CI artefacts) and are treated as
untrusted. A PyTorch .pt/.pth file is a pickle, and unpickling runs arbitrary code, so this
module never calls torch.load; only safetensors (plain tensors + a JSON header) is read.

Metadata keys (all values strings, JSON where structured): 'thermostereo_arch',
'thermostereo_config', 'thermostereo_normalization', 'thermostereo_provenance',
'thermostereo_format_version'.
"""

import json
import pathlib
from typing import Any, Dict, Optional, Tuple, Union

from safetensors import safe_open

FORMAT_VERSION = '1'
PICKLE_SUFFIXES = ('.pt', '.pth', '.pkl', '.pickle', '.ckpt', '.tar', '.bin')
EXPORTED_SUFFIXES = ('.onnx', '.engine', '.plan')
_KEYS = ('arch', 'config', 'normalization', 'provenance')
PathLike = Union[str, pathlib.Path]


class CheckpointError(Exception):
    """A checkpoint could not be used; the message names the file and the reason."""


def _refuse_pickle(path: pathlib.Path, head: bytes) -> None:
    why = ('refused: PyTorch/pickle checkpoints are untrusted input and unpickling them '
           'executes arbitrary code; convert the weights to safetensors (see '
           'docs/ARCHITECTURE.md) and pass the .safetensors file')
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(f'{path}: {path.suffix} files are pickle-based; {why}')
    # A safetensors file opens with its header's length (8 bytes, little-endian) and then the
    # JSON header's '{'. The length's first byte may be anything, 0x80 or 'P' included, so the
    # magic bytes below are tested only when byte 8 says the file is not safetensors.
    if head[8:9] == b'{':
        return
    if head[:2] == b'PK':
        raise CheckpointError(f'{path}: file is a zip archive (torch.save format); {why}')
    if head[:1] == b'\x80':
        raise CheckpointError(f'{path}: file starts with a pickle protocol header; {why}')


def _tensors_for_saving(model: Any) -> Dict[str, Any]:
    # safetensors refuses tensors that share storage (e.g. tied weights or views), so each
    # one is copied into its own contiguous CPU buffer.
    return {name: tensor.detach().to('cpu').contiguous().clone()
            for name, tensor in model.state_dict().items()}


def save_checkpoint(path: PathLike, model: Any, arch: str, config: Dict[str, Any],
                    normalization: Dict[str, Any], provenance: Dict[str, Any]) -> pathlib.Path:
    """Write `model`'s weights to a .safetensors file with JSON metadata; returns the path.

    `config` are the constructor keyword arguments (`model.config`), `normalization` the
    input normalisation (e.g. {'mode': 'joint', 'low': 1, 'high': 99}), `provenance` free-form
    (dataset, commit, epoch, metrics). All three must be JSON-serialisable.
    """
    # torch takes seconds to import: only where a network runs.
    from safetensors.torch import save_file

    path = pathlib.Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(f'{path}: checkpoints are written as safetensors; use a '
                              '.safetensors file name, not a pickle-style suffix')
    try:
        metadata = {
            'thermostereo_format_version': FORMAT_VERSION,
            'thermostereo_arch': str(arch),
            'thermostereo_config': json.dumps(config, sort_keys=True),
            'thermostereo_normalization': json.dumps(normalization, sort_keys=True),
            'thermostereo_provenance': json.dumps(provenance, sort_keys=True),
        }
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f'{path}: metadata is not JSON-serialisable: {exc}') from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    # Write then rename, so a reader never sees a half-written checkpoint.
    save_file(_tensors_for_saving(model), str(tmp), metadata=metadata)
    tmp.replace(path)
    return path


def _parse_metadata(path: pathlib.Path, raw: Dict[str, str]) -> Dict[str, Any]:
    missing = [k for k in _KEYS if 'thermostereo_' + k not in raw]
    if missing:
        raise CheckpointError(f'{path}: not a thermostereo_ros checkpoint (metadata lacks '
                              f'{", ".join("thermostereo_" + k for k in missing)})')
    meta: Dict[str, Any] = {'arch': raw['thermostereo_arch'],
                            'format_version': raw.get('thermostereo_format_version', '1')}
    for key in ('config', 'normalization', 'provenance'):
        try:
            meta[key] = json.loads(raw['thermostereo_' + key])
        except json.JSONDecodeError as exc:
            raise CheckpointError(f'{path}: metadata thermostereo_{key} is not valid JSON: '
                                  f'{exc}') from exc
        if not isinstance(meta[key], dict):
            raise CheckpointError(f'{path}: metadata thermostereo_{key} must be a JSON object')
    return meta


def check_model_file(path: PathLike) -> pathlib.Path:
    """Return `path` if it can be a model file, else CheckpointError saying what it is instead.

    Cheap (a stat and the first 9 bytes: the safetensors header length and the header's
    opening brace), so a node can run it synchronously when a parameter changes. .onnx, .engine
    and .plan files are only checked for being regular, non-empty files.
    """
    path = pathlib.Path(path).expanduser()
    if path.is_dir():
        raise CheckpointError(f'{path}: is a directory, not a checkpoint file')
    if not path.exists():
        raise CheckpointError(f'{path}: checkpoint file does not exist')
    if not path.is_file():
        raise CheckpointError(f'{path}: is not a regular file (a device or a pipe?)')
    size = path.stat().st_size
    with open(path, 'rb') as handle:
        head = handle.read(9)
    _refuse_pickle(path, head)
    if path.suffix.lower() in EXPORTED_SUFFIXES:
        if size == 0:
            raise CheckpointError(f'{path}: file is empty')
        return path
    if len(head) < 9:
        raise CheckpointError(f'{path}: file is truncated or empty ({len(head)} bytes); '
                              'not a safetensors checkpoint')
    header_len = int.from_bytes(head[:8], 'little')
    if header_len + 8 > size:
        raise CheckpointError(f'{path}: corrupt or truncated safetensors file (header claims '
                              f'{header_len} bytes, file has {size})')
    return path


def load_checkpoint(path: PathLike) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Read (state_dict, metadata) from a safetensors checkpoint without building a model.

    metadata = {'arch': str, 'config': dict, 'normalization': dict, 'provenance': dict,
    'format_version': str}. Raises CheckpointError for a missing, pickle, corrupt or foreign
    file.
    """
    path = check_model_file(path)
    try:
        with safe_open(str(path), framework='pt', device='cpu') as reader:
            raw_meta = reader.metadata() or {}
            state = {name: reader.get_tensor(name) for name in reader.keys()}
    except Exception as exc:  # safetensors raises several types for damaged files
        raise CheckpointError(f'{path}: corrupt or truncated safetensors file: {exc}') from exc
    return state, _parse_metadata(path, raw_meta)


def read_architecture(path: PathLike) -> Optional[str]:
    """Return the architecture name a .safetensors or .onnx file declares, None if it has none.

    Reads only the metadata (the safetensors header, the ONNX metadata_props); CheckpointError
    for a file that is neither.
    """
    path = check_model_file(path)
    if path.suffix.lower() == '.onnx':
        # onnx is optional (the torch and OpenVINO-from-checkpoint paths do without it).
        import onnx

        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf raises DecodeError and others
            raise CheckpointError(f'{path}: not a readable ONNX file: {exc}') from exc
        return {p.key: p.value for p in proto.metadata_props}.get('thermostereo_arch')
    if path.suffix.lower() in EXPORTED_SUFFIXES:
        return None

    try:
        with safe_open(str(path), framework='pt', device='cpu') as reader:
            return (reader.metadata() or {}).get('thermostereo_arch')
    except Exception as exc:  # safetensors raises several types for damaged files
        raise CheckpointError(f'{path}: corrupt or truncated safetensors file: {exc}') from exc


def build_from_checkpoint(path: PathLike, map_location: str = 'cpu', **overrides: Any
                          ) -> Tuple[Any, Dict[str, Any]]:
    """Build the network a checkpoint describes and load its weights; returns (model, meta).

    `overrides` replace config entries before building (e.g. max_disparity for an
    architecture whose weights do not depend on it). The model is returned in eval mode.
    """
    # torch takes seconds to import: only where a network runs.
    from thermostereo_ros.model import ARCHITECTURES, build_model

    path = pathlib.Path(path)
    state, meta = load_checkpoint(path)
    arch = meta['arch']
    if arch not in ARCHITECTURES:
        raise CheckpointError(f'{path}: unknown architecture {arch!r} (known: '
                              f'{sorted(ARCHITECTURES)})')
    config = dict(meta['config'], **overrides)
    try:
        model = build_model(arch, config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f'{path}: config does not fit architecture {arch!r}: '
                              f'{exc}') from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}'
                  for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or mismatched:
        parts = []
        if mismatched:
            parts.append(f'{len(mismatched)} shape mismatches (e.g. {mismatched[0]})')
        if missing:
            parts.append(f'{len(missing)} missing tensors (e.g. {missing[0]})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})')
        raise CheckpointError(f'{path}: weights do not match architecture {arch!r} with '
                              f'config {config}: ' + '; '.join(parts))
    model.load_state_dict(state, strict=True)
    meta = dict(meta, config=dict(model.config))  # type: ignore[arg-type]
    return model.to(map_location).eval(), meta


def build_student(path: PathLike, purpose: str) -> Tuple[Any, Dict[str, Any]]:
    """`build_from_checkpoint` for a student only; CheckpointError naming `purpose` otherwise."""
    model, meta = build_from_checkpoint(path)
    if meta['arch'] != 'thermostereo_rt':
        raise CheckpointError(f'{path}: only the student (thermostereo_rt) {purpose}, this is '
                              f'a {meta["arch"]!r}')
    return model, meta
