# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A compact, memory-mappable training cache of rendered pairs, written in parallel shards.

Layout of a cache folder:
- `manifest.json`: renderer version, image size, max disparity, mix, seeds and the shards;
- per shard `NNNNN.left.npy`, `NNNNN.right.npy` (uint16 NxHxW raw counts; 8-bit AGC frames
  keep their 0-255 values), `NNNNN.disparity.npy` (float16 NxHxW, 0 = none), `NNNNN.flags.npy`
  (uint8 NxHxW bit field, see FLAG_*) and `NNNNN.meta.json` (family, condition, ... per pair).

Rendering a v2 street pair takes about half a second on one core, longer than a training step,
so the trainer reads pairs from here and never waits on the renderer. Shards are written to a
temporary name and renamed when complete, so an interrupted `synth --cache` resumes where it
stopped and a reader never sees half a shard.
"""

import json
import os
import pathlib
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from thermostereo_ros.data.heldout import assert_training_seed
from thermostereo_ros.data.synthetic import (CONDITIONS, DEFAULT_MIXES, RENDERER_VERSION,
                                             RENDERER_VERSIONS, render_pair)

FLAG_OCCLUDED, FLAG_SKY, FLAG_SPARSE, FLAG_REFLECTIVE = 1, 2, 4, 8
MANIFEST = 'manifest.json'
SHARD_SIZE = 64
AGC_FRACTION = 0.25   # share of pairs written as 8-bit AGC frames, as many drivers publish


def pair_settings(seed: int, conditions: Sequence[str], agc_fraction: float
                  ) -> Tuple[str, int]:
    """Condition and bit depth of a cache seed (a pure function of the seed)."""
    condition = conditions[seed % len(conditions)]
    bit_depth = 8 if np.random.default_rng([seed, 8]).random() < agc_fraction else 14
    return condition, bit_depth


def _shard_paths(root: pathlib.Path, index: int) -> Dict[str, pathlib.Path]:
    stem = f'{index:05d}'
    return {k: root / f'{stem}.{k}.npy' for k in ('left', 'right', 'disparity', 'flags')} | {
        'meta': root / f'{stem}.meta.json'}


def _write_shard(args: Tuple[str, int, List[int], int, int, float, Dict[str, float],
                             Tuple[str, ...], float, int]) -> int:
    root, index, seeds, height, width, max_disp, mix, conditions, agc, version = args
    paths = _shard_paths(pathlib.Path(root), index)
    if all(p.exists() for p in paths.values()):
        return index
    n = len(seeds)
    arrays: Dict[str, np.ndarray] = {
        'left': np.zeros((n, height, width), np.uint16),
        'right': np.zeros((n, height, width), np.uint16),
        'disparity': np.zeros((n, height, width), np.float16),
        'flags': np.zeros((n, height, width), np.uint8)}
    meta = []
    for i, seed in enumerate(seeds):
        condition, bit_depth = pair_settings(seed, conditions, agc)
        p = render_pair(seed, height, width, max_disp, condition, mix=mix, bit_depth=bit_depth,
                        version=version)
        arrays['left'][i], arrays['right'][i] = p.left, p.right
        arrays['disparity'][i] = np.minimum(p.disparity, 65000.0)
        reflective = np.zeros_like(p.sky) if p.reflective is None else p.reflective
        arrays['flags'][i] = (p.occluded * FLAG_OCCLUDED | p.sky * FLAG_SKY
                              | p.sparse_valid * FLAG_SPARSE
                              | reflective * FLAG_REFLECTIVE)
        meta.append(p.meta)
    for key, array in arrays.items():
        tmp = paths[key].with_suffix('.tmp.npy')
        np.save(tmp, array)
        os.replace(tmp, paths[key])
    tmp = paths['meta'].with_suffix('.tmp')
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, paths['meta'])
    return index


def write_cache(root: str, pairs: int, height: int = 256, width: int = 640,
                max_disparity: float = 192, first_seed: int = 0,
                mix: Optional[Dict[str, float]] = None,
                conditions: Sequence[str] = CONDITIONS, agc_fraction: float = AGC_FRACTION,
                workers: Optional[int] = None, progress: Optional[Any] = None,
                version: int = RENDERER_VERSION) -> pathlib.Path:
    """Render `pairs` training pairs (seeds first_seed ...) into `root`; returns the manifest."""
    seeds = list(range(first_seed, first_seed + pairs))
    for s in (seeds[0], seeds[-1]):
        assert_training_seed(s)
    if version not in RENDERER_VERSIONS:
        raise ValueError(f'renderer version {version} is not one of {RENDERER_VERSIONS}')
    mix = dict(mix or DEFAULT_MIXES[version])
    out = pathlib.Path(root)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    header: Dict[str, Any] = dict(
        renderer_version=version, height=height, width=width, max_disparity=max_disparity,
        mix=mix, conditions=list(conditions), agc_fraction=agc_fraction,
        first_seed=first_seed, shard_size=SHARD_SIZE)
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        differs = {k: (old.get(k), v) for k, v in header.items() if old.get(k) != v}
        if differs:
            raise ValueError(f'{root} holds a cache made with other settings {differs}; '
                             f'use another folder')
    jobs = [(str(out), i, seeds[i * SHARD_SIZE:(i + 1) * SHARD_SIZE], height, width,
             float(max_disparity), mix, tuple(conditions), agc_fraction, version)
            for i in range((pairs + SHARD_SIZE - 1) // SHARD_SIZE)]
    workers = workers or os.cpu_count() or 1
    done = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for index in pool.map(_write_shard, jobs):
            done.append(index)
            if progress is not None:
                progress.update(len(jobs[index][2]))
            # Rewritten after every shard: a reader (or a trainer started early) sees the
            # completed shards, and an interrupted run loses at most the shards in flight.
            _write_manifest(manifest_path, header, jobs, sorted(done))
    return manifest_path


def _write_manifest(path: pathlib.Path, header: dict, jobs: List[Tuple[Any, ...]],
                    done: List[int]) -> None:
    shards = [dict(index=i, pairs=len(jobs[i][2]), first_seed=jobs[i][2][0]) for i in done]
    tmp = path.with_suffix('.tmp')
    tmp.write_text(json.dumps(dict(header, shards=shards), indent=1))
    os.replace(tmp, path)


class TrainingCache:
    """Read-only view of a cache folder; arrays are memory-mapped, pairs indexed globally."""

    def __init__(self, root: str):
        """Open the manifest and memory-map every complete shard."""
        self.root = pathlib.Path(root)
        manifest = self.root / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f'{manifest} not found: write the cache first with '
                                    f'`thermostereo synth --cache {root} --pairs N`')
        self.manifest = json.loads(manifest.read_text())
        self.version = self.manifest.get('renderer_version')
        if self.version not in RENDERER_VERSIONS:
            raise ValueError(f'{root} was rendered by renderer v{self.version}; this renderer '
                             f'renders {RENDERER_VERSIONS}: re-render it')
        self.shards = []
        self.meta: List[dict] = []
        for shard in self.manifest['shards']:
            paths = _shard_paths(self.root, shard['index'])
            self.shards.append({k: np.load(p, mmap_mode='r') for k, p in paths.items()
                                if k != 'meta'})
            self.meta.extend(json.loads(paths['meta'].read_text()))
        self._where = [(s, i) for s, shard in enumerate(self.shards)
                       for i in range(len(shard['left']))]

    def __len__(self) -> int:
        """Return the number of cached pairs."""
        return len(self._where)

    def pair(self, index: int) -> Dict[str, np.ndarray]:
        """Arrays of pair `index`: left, right, disparity (float32) and the three masks."""
        s, i = self._where[index]
        shard = self.shards[s]
        flags = np.asarray(shard['flags'][i])
        return dict(left=np.asarray(shard['left'][i]), right=np.asarray(shard['right'][i]),
                    disparity=np.asarray(shard['disparity'][i], np.float32),
                    occluded=(flags & FLAG_OCCLUDED) > 0, sky=(flags & FLAG_SKY) > 0,
                    sparse=(flags & FLAG_SPARSE) > 0,
                    reflective=(flags & FLAG_REFLECTIVE) > 0)


def cache_size_bytes(root: str) -> int:
    """Bytes on disk of a cache folder."""
    return sum(p.stat().st_size for p in pathlib.Path(root).iterdir() if p.is_file())
