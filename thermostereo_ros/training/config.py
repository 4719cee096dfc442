# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Training configuration: YAML files in config/train/, merged over the defaults below.

Every key a config may set appears in DEFAULTS, so a typo is an error, not a silently ignored
setting.
"""

import copy
import pathlib
from typing import Any, Dict, Optional

import yaml

DEFAULTS: Dict[str, Any] = {
    'arch': 'thermostereo_rt',      # 'thermostereo_rt' (student) or 'teacher'
    'model': {},                    # constructor arguments of the architecture
    # Checkpoint (safetensors) whose weights start a fresh run: fine-tuning, e.g. on MS2 from
    # the shipped synthetic weights, or a new schedule after one has ended. Ignored when
    # --resume finds a state: that state already holds the weights.
    'init': None,
    'max_disparity': 192,
    'seed': 0,
    'device': 'auto',               # auto | cpu | cuda
    'amp': True,                    # mixed precision on CUDA only
    'precision': 'auto',            # CPU: auto (bf16 where native, else fp32) | fp32 | bf16
    'data': {
        'kind': 'synthetic',        # synthetic (rendered per step) | cache | ms2
        'root': None,               # MS2 root for kind=ms2, cache folder for kind=cache
        'mix': None,                # scene-family weights (None = the renderer's default)
        # Renderer version of rendered pairs and of validation (None: a cache's own version,
        # else the current renderer's).
        'renderer_version': None,
        'exclude_families': [],     # leave-one-family-out: never trained or validated on
        'supervise_sky': False,     # cache: dense GT 0 on sky (at infinity) instead of none
        'split': 'train',
        'train_seeds': 100000,      # synthetic: seeds [0, train_seeds) (below the held-out range)
        'height': 256,
        'width': 640,
        'crop': [192, 448],         # random crop (h, w) for training
        'conditions': ['day', 'night', 'rain'],
        'augment': True,            # or augment.augment's keyword arguments (shift_prob, ...)
        'num_workers': 1,
    },
    'supervision': 'sparse',        # sparse (LiDAR-like, as MS2) | dense (synthetic GT)
    'loss': {
        'distribution_weight': 0.0,       # cross-entropy on the 1/4 cost distribution
        'distribution_temperature': 0.5,  # width (in 1/4 px) of its unimodal target
    },
    'distillation': {
        'teacher': None,            # teacher checkpoint (safetensors); None = no distillation
        'weight': 1.0,              # lambda of the dense term
        # KL from the teacher's 1/4 disparity distribution to the student's (0 = off).
        'distribution_weight': 0.0,
        'distribution_temperature': 1.0,
    },
    'optim': {
        'steps': 2000,
        'batch_size': 4,
        'lr': 1.0e-3,
        'weight_decay': 1.0e-4,
        'warmup_steps': 100,
        'grad_clip': 1.0,
        # Exponential moving average of the weights (0 = off). With it, validation and the
        # final checkpoint use the averaged weights: smoother than a mid-schedule snapshot.
        'ema_decay': 0.0,
    },
    'log': {
        'out_dir': 'runs/default',
        'log_every': 20,
        'checkpoint_every': 250,
        'image_every': 250,
        'val_pairs': 4,             # validation pairs (seeds from the validation range)
        # Optimizer moments in the state file: fp32 resumes exactly; bf16 halves them (a
        # state small enough for git, resumed to within bf16 rounding of the moments).
        'state_moments': 'fp32',
    },
}


def _merge(base: Dict[str, Any], override: Dict[str, Any], where: str) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise KeyError(f'unknown training config key {where}{key!r}')
        if isinstance(base[key], dict) and base[key] and isinstance(value, dict):
            out[key] = _merge(base[key], value, f'{where}{key}.')
        else:
            out[key] = value
    return out


def load_config(path: Optional[pathlib.Path], overrides: Optional[Dict[str, Any]] = None
                ) -> Dict[str, Any]:
    """Load a training YAML over DEFAULTS, then apply `overrides` (same nesting)."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        text = pathlib.Path(path).read_text()
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f'{path}: a training config must be a mapping')
        config = _merge(config, loaded, '')
    if overrides:
        config = _merge(config, overrides, '')
    if config['precision'] not in ('auto', 'fp32', 'bf16'):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {config['precision']!r}")
    if config['supervision'] not in ('sparse', 'dense'):
        raise ValueError(f"supervision must be 'sparse' or 'dense', got {config['supervision']!r}")
    if (config.get('model') or {}).get('sky_head'):
        # The losses here never reach the head: it would mask pixels it never learnt about.
        raise ValueError('model.sky_head: train does not train a sky head; `thermostereo '
                         'sky-head` adds one to the weights a run ends with')
    return config
