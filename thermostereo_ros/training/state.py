# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Resumable training state (weights, AdamW moments, step, RNG) as safetensors, never pickle.

torch.save would pickle the optimizer; a training-state file is as untrusted as any checkpoint
once it is shared, so tensors go into safetensors and the small non-tensor remainder (param
group hyper-parameters, the step) into its JSON metadata.
"""

import json
import pathlib
from typing import Any, Dict, Optional, Tuple

from safetensors import safe_open
from safetensors.torch import load_file, save_file
import torch

_META_KEY = 'thermostereo_training_state'


def save_training_state(path: pathlib.Path, model: torch.nn.Module,
                        optimizer: torch.optim.Optimizer, step: int,
                        extra: Dict[str, Any],
                        moments_dtype: torch.dtype = torch.float32,
                        tensors_extra: Optional[Dict[str, torch.Tensor]] = None) -> None:
    """Write model weights, optimizer state and the step to one safetensors file.

    `moments_dtype=torch.bfloat16` halves the optimizer part (the file a new machine needs to
    continue a run fits in git); the weights always stay float32. On load, torch casts the
    moments back to the parameters' dtype.
    """
    tensors: Dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        tensors['model.' + name] = value.detach().cpu().contiguous()
    optim_state = optimizer.state_dict()
    scalars: Dict[str, Dict[str, Any]] = {}
    for param_id, state in optim_state['state'].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                value = value.detach().cpu()
                if value.is_floating_point() and value.dim() > 0:
                    value = value.to(moments_dtype)
                tensors[f'optim.{param_id}.{key}'] = value.contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    for name, value in (tensors_extra or {}).items():
        tensors['extra.' + name] = value.detach().cpu().contiguous()
    tensors['rng.torch'] = torch.get_rng_state()
    meta = {'step': step, 'param_groups': optim_state['param_groups'],
            'optim_scalars': scalars, 'extra': extra}
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix('.tmp')
    save_file(tensors, str(tmp), metadata={_META_KEY: json.dumps(meta)})
    tmp.replace(path)  # atomic: a crash mid-write never leaves a half checkpoint to resume


def load_training_state(path: pathlib.Path, model: torch.nn.Module,
                        optimizer: torch.optim.Optimizer) -> Tuple[int, Dict[str, Any]]:
    """Restore what save_training_state wrote; returns (step, extra)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'training state {path} does not exist')
    with safe_open(str(path), framework='pt') as handle:
        raw_meta = (handle.metadata() or {}).get(_META_KEY)
    if raw_meta is None:
        raise ValueError(f'{path} is not a thermostereo training state (no {_META_KEY} metadata)')
    meta = json.loads(raw_meta)
    tensors = load_file(str(path))
    model.load_state_dict({k[len('model.'):]: v for k, v in tensors.items()
                           if k.startswith('model.')})
    state: Dict[int, Dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith('optim.'):
            _, param_id, name = key.split('.', 2)
            state.setdefault(int(param_id), {})[name] = value
    for param_id, values in meta['optim_scalars'].items():
        state.setdefault(int(param_id), {}).update(values)
    optimizer.load_state_dict({'state': state, 'param_groups': meta['param_groups']})
    if 'rng.torch' in tensors:
        torch.set_rng_state(tensors['rng.torch'])
    return int(meta['step']), meta.get('extra', {})


def load_extra_tensors(path: pathlib.Path) -> Dict[str, torch.Tensor]:
    """Read the `tensors_extra` a state file was saved with (empty for older files)."""
    tensors = load_file(str(path))
    return {k[len('extra.'):]: v for k, v in tensors.items() if k.startswith('extra.')}
