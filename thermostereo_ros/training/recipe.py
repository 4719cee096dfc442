# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Multi-phase training recipes: a whole lineage of weights from one command.

A recipe (config/recipes/*.yaml) is a `base` training config and a list of phases, each of
which starts from the weights the one before it ended with:
- `train`: a training config merged over `base` (training/config.py keys);
- `prune`: `aggregation_channels`, the hourglass width to prune to (model/prune.py);
- `sky_head`: `steps`, `batch_size`, `crop` (WIDTHxHEIGHT) and `threshold`: a sky head trained
  on the frozen network (training/sky_head.py).
Phase P writes OUT/P/final.safetensors; a phase whose file exists is skipped, and a train
phase resumes from OUT/P/state.safetensors, so the command continues where it stopped.
"""

from __future__ import annotations

import copy
import pathlib
import time
from typing import Any, Dict, List, Optional

import yaml

from thermostereo_ros.geometry.image_size import parse_size
from thermostereo_ros.inference.checkpoint import build_student, save_checkpoint
from thermostereo_ros.model.prune import prune_aggregation
from thermostereo_ros.training.config import load_config
from thermostereo_ros.training.sky_head import (fold_threshold, SkyRecipe, train_sky_head,
                                                with_sky_head)
from thermostereo_ros.training.trainer import FINAL_FILE, train, weights_digest

RECIPES_DIR = pathlib.Path(__file__).resolve().parents[2] / 'config' / 'recipes'
PHASE_KINDS = ('train', 'prune', 'sky_head')


def find_recipe(name: str) -> pathlib.Path:
    """Return the recipe file `name` means: a path, or a name in config/recipes/."""
    path = pathlib.Path(name).expanduser()
    if path.suffix in ('.yaml', '.yml') and path.is_file():
        return path
    named = RECIPES_DIR / f'{name}.yaml'
    if named.is_file():
        return named
    known = sorted(p.stem for p in RECIPES_DIR.glob('*.yaml')) if RECIPES_DIR.is_dir() else []
    raise FileNotFoundError(f'no recipe {name!r}: give a .yaml path or one of {known}')


def load_recipe(path: pathlib.Path) -> Dict[str, Any]:
    """Read and check a recipe: every phase names one kind, and train phases are valid."""
    recipe = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    if not isinstance(recipe, dict) or not isinstance(recipe.get('phases'), list):
        raise ValueError(f'{path}: a recipe is a mapping with a list of phases')
    names = set()
    for index, phase in enumerate(recipe['phases']):
        kinds = [k for k in PHASE_KINDS if k in phase]
        if not isinstance(phase, dict) or 'name' not in phase or len(kinds) != 1:
            raise ValueError(f'{path}: phase {index} needs a name and exactly one of '
                             f'{PHASE_KINDS}, got {phase!r}')
        if phase['name'] in names:
            raise ValueError(f'{path}: phase name {phase["name"]!r} is used twice')
        names.add(phase['name'])
        if 'train' in phase:
            phase_config(recipe, phase, pathlib.Path('out'), None)  # raises on a bad key
    return recipe


def phase_config(recipe: Dict[str, Any], phase: Dict[str, Any], out_root: pathlib.Path,
                 init: Optional[pathlib.Path], overrides: Optional[Dict[str, Any]] = None
                 ) -> Dict[str, Any]:
    """Return a train phase's full config: base, the phase, its place and start, overrides."""
    placed = {'init': str(init) if init is not None else None,
              'log': {'out_dir': str(out_root / phase['name'])}}
    merged = _merged(_merged(recipe.get('base') or {}, phase['train']), placed)
    return load_config(None, _merged(merged, overrides or {}))


def run_recipe(recipe: Dict[str, Any], out_root: pathlib.Path,
               overrides: Optional[Dict[str, Any]] = None,
               sky_overrides: Optional[Dict[str, Any]] = None,
               time_budget_s: Optional[float] = None, progress: bool = True
               ) -> Optional[pathlib.Path]:
    """Run the phases in order; return the last one's weights, or None if time ran out.

    `overrides` apply to every train phase (e.g. a smaller schedule for a dry run, another
    cache), `sky_overrides` (steps, batch_size) to the sky head.
    """
    started = time.monotonic()
    previous: Optional[pathlib.Path] = None
    for phase in recipe['phases']:
        out = out_root / phase['name'] / FINAL_FILE
        if out.is_file():
            print(f'recipe: {phase["name"]} done ({out})', flush=True)
            previous = out
            continue
        left = None if time_budget_s is None else time_budget_s - (time.monotonic() - started)
        if left is not None and left <= 0:
            return None
        print(f'recipe: {phase["name"]} ...', flush=True)
        if 'train' in phase:
            config = phase_config(recipe, phase, out_root, previous, overrides)
            written = train(config, resume=True, progress=progress, time_budget_s=left)
            if written.name != FINAL_FILE:
                return None  # stopped with its state saved: the next call continues
        elif 'prune' in phase:
            prune_checkpoint(_required(previous, phase),
                             int(phase['prune']['aggregation_channels']), out)
        else:
            cache = (overrides or {}).get('data', {}).get('root') or \
                (recipe.get('base') or {}).get('data', {}).get('root')
            _sky_head(_required(previous, phase), str(pathlib.Path(cache).expanduser()),
                      dict(phase['sky_head'], **(sky_overrides or {})), out)
        previous = out
    return previous


def _required(previous: Optional[pathlib.Path], phase: Dict[str, Any]) -> pathlib.Path:
    if previous is None:
        raise ValueError(f'phase {phase["name"]!r} needs weights from a phase before it')
    return previous


def prune_checkpoint(source: pathlib.Path, channels: int, out: pathlib.Path) -> Any:
    """Write `source` with its hourglass pruned to `channels`, provenance kept; returns it."""
    model, meta = build_student(source, 'is pruned')
    pruned = prune_aggregation(model, channels)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, pruned, arch='thermostereo_rt', config=pruned.config,
                    normalization=meta.get('normalization', {}),
                    provenance={'pruned_from': {'path': str(source),
                                                'aggregation_channels':
                                                    model.config['aggregation_channels'],
                                                'provenance': meta.get('provenance', {})},
                                'fine_tuned': False})
    return pruned


def _sky_head(source: pathlib.Path, cache: str, settings: Dict[str, Any],
              out: pathlib.Path) -> None:
    plain, meta = build_student(source, 'takes a sky head')
    started_from = {'path': str(source), 'digest': weights_digest(plain)}
    model: Any = with_sky_head(plain)
    head = train_sky_head(model, cache, SkyRecipe(
        steps=int(settings['steps']), batch_size=int(settings['batch_size']),
        crop=parse_size(str(settings['crop']), 'sky_head.crop')))
    threshold = float(settings.get('threshold', 0.0))
    fold_threshold(model, threshold)
    provenance = dict(meta.get('provenance', {}),
                      sky_head=dict(head, started_from=started_from, threshold=threshold))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, model, arch='thermostereo_rt', config=model.config,
                    normalization=meta.get('normalization', {}), provenance=provenance)


def _merged(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and out[key]:
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def phase_names(recipe: Dict[str, Any]) -> List[str]:
    """Return the phases' names in order."""
    return [phase['name'] for phase in recipe['phases']]
