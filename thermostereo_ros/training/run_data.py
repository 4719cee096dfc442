# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What a run trains and validates on (its config's `data`), and how its provenance names it."""

import json
import pathlib
from typing import Any, Dict, Optional, Tuple

from thermostereo_ros.data import datasets
from thermostereo_ros.data.cache import MANIFEST
from thermostereo_ros.data.heldout import TRAINING_SEED_LIMIT
from thermostereo_ros.data.synthetic import DEFAULT_MIX, RENDERER_VERSION


def make_datasets(config: Dict[str, Any]) -> Tuple[Any, Any]:
    """Return (training set, validation pairs) of a run; validation seeds sit below held-out."""
    data = config['data']
    crop = tuple(data['crop']) if data['crop'] else None
    train: Any
    if data['kind'] in ('synthetic', 'cache'):
        n_train = int(data['train_seeds'])
        n_val = int(config['log']['val_pairs'])
        # Validation seeds sit just above the training seeds and below the held-out range.
        if n_train + n_val > TRAINING_SEED_LIMIT:
            raise ValueError('training + validation seeds would reach the held-out test seeds')
        mix = data['mix']
        if data['exclude_families']:  # also out of validation: nothing is selected on them
            mix = {f: (0.0 if f in data['exclude_families'] else w)
                   for f, w in (mix or DEFAULT_MIX).items()}
        common = dict(height=data['height'], width=data['width'],
                      max_disparity=config['max_disparity'], conditions=data['conditions'],
                      mix=mix, version=data['renderer_version'])
        if data['kind'] == 'cache':
            if not data['root']:
                raise ValueError('data.kind cache needs data.root (a `synth --cache` folder)')
            train = datasets.CachedStereoDataset(data['root'], config['max_disparity'],
                                                 augment=data['augment'], crop=crop,
                                                 supervise_sky=data['supervise_sky'],
                                                 exclude_families=data['exclude_families'])
            cached = train.cache.version
            if common['version'] is None:
                common['version'] = cached      # validate on what the cache was rendered by
            elif common['version'] != cached:
                raise ValueError(f"data.renderer_version {common['version']} but the cache "
                                 f"{data['root']} was rendered by v{cached}")
        else:
            train = datasets.SyntheticStereoDataset(
                seeds=range(n_train), augment=data['augment'], crop=crop, **common)
        val = datasets.SyntheticStereoDataset(
            seeds=range(n_train, n_train + n_val), augment=False, crop=None, **common)
        # Rendered once: validation then costs only the forward passes.
        return train, [val[i] for i in range(len(val))]
    if data['kind'] == 'ms2':
        if not data['root']:
            raise ValueError('data.kind ms2 needs data.root (the MS2 dataset folder)')
        train = datasets.MS2StereoDataset(data['root'], data['split'], augment=data['augment'],
                                          crop=crop, max_disparity=config['max_disparity'])
        validation = datasets.MS2StereoDataset(data['root'], 'val', augment=False, crop=None,
                                               max_disparity=config['max_disparity'])
        return train, validation
    raise ValueError(f"data.kind must be 'synthetic', 'cache' or 'ms2', got {data['kind']!r}")


def renderer_version(config: Dict[str, Any]) -> Optional[int]:
    """Return the renderer version of a run's data (None: MS2, or a cache no longer on disk)."""
    data = config['data']
    if data['kind'] == 'ms2':
        return None
    if data['renderer_version'] is not None:
        return int(data['renderer_version'])
    if data['kind'] == 'cache':
        manifest = pathlib.Path(str(data['root'])).expanduser() / MANIFEST
        if not manifest.is_file():
            return None
        return json.loads(manifest.read_text()).get('renderer_version')
    return RENDERER_VERSION


def data_name(config: Dict[str, Any]) -> str:
    """'synthetic' for rendered data (on the fly or from a cache), else the data kind."""
    return 'synthetic' if config['data']['kind'] in ('synthetic', 'cache') else \
        config['data']['kind']
