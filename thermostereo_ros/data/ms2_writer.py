# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Write synthetic thermal stereo sequences in the exact MS2 layout read by `data.ms2`.

Each sequence is one world rendered along a smooth camera path (`render_sequence`).
Written per sequence: thermal PNGs (16-bit), `calib.npy` (pickled dict with the MS2 key
names; rgb/nir entries are identity/zero placeholders because only thermal is rendered),
sparse LiDAR-like `depth_filtered` PNGs (depth * 256 as uint16, like MS2's filtered
projected LiDAR), odometry (4x4 left-camera-to-world pose per frame) and
`thr/timestamps.txt`. Split lists are written at the root; sequence names follow MS2's
`_YYYY-MM-DD-hh-mm-ss` style and each condition's sequences go first to its test split,
then to train (and val for day).
"""

import datetime
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from thermostereo_ros.data.ms2 import SPLIT_FILES
from thermostereo_ros.data.synthetic import (CONDITIONS, default_camera, RENDERER_VERSION,
                                             render_sequence, SyntheticPair)

_SPLIT_ORDER = {'day': ('test_day', 'train', 'val'), 'night': ('test_night', 'train'),
                'rain': ('test_rain', 'train')}
_EPOCH = datetime.datetime(2021, 8, 13, 16, 0, 0)


def sequence_name(index: int, seed: int = 0) -> str:
    """MS2-style sequence name, e.g. `_2021-08-13-21-18-04`, unique per (seed, index)."""
    t = _EPOCH + datetime.timedelta(days=seed % 1000, minutes=17 * index,
                                    seconds=(7 * index + seed) % 60)
    return t.strftime('_%Y-%m-%d-%H-%M-%S')


def calibration_dict(pair: SyntheticPair) -> Dict[str, np.ndarray]:
    """MS2 calib.npy content for a rendered camera (translations in millimetres)."""
    k = pair.camera.K
    t = np.array([[-pair.camera.baseline * 1000.0], [0.0], [0.0]])
    eye, zero = np.eye(3), np.zeros((3, 1))
    calib = {'K_thrL': k.copy(), 'K_thrR': k.copy(), 'R_thrR': eye.copy(), 'T_thrR': t}
    for mod in ('rgb', 'nir'):
        calib.update({f'K_{mod}L': k.copy(), f'K_{mod}R': k.copy(), f'R_{mod}R': eye.copy(),
                      f'T_{mod}R': t.copy()})
    for name in ('nir2thr', 'nir2rgb'):
        calib.update({f'R_{name}': eye.copy(), f'T_{name}': zero.copy()})
    return calib


def _write_png16(path: str, image: np.ndarray) -> None:
    # OpenCV only where an image is decoded, written or matched.
    import cv2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(image, dtype=np.uint16)):
        raise OSError(f'could not write {path}')


def sparse_depth_png(pair: SyntheticPair) -> np.ndarray:
    """uint16 depth * 256 at the sparse LiDAR-like pixels, 0 elsewhere."""
    depth = pair.camera.disparity_to_depth(pair.disparity)
    keep = pair.sparse_valid & np.isfinite(depth) & (depth * 256.0 < 65535)
    out = np.zeros(depth.shape, np.uint16)
    out[keep] = np.rint(depth[keep] * 256.0).astype(np.uint16)
    return out


def write_sequence(root: str, seq: str, pairs: Sequence[SyntheticPair],
                   start_time: float = 0.0) -> None:
    """Write one sequence of pairs under `root` in the MS2 layout."""
    if not pairs:
        raise ValueError('no frames to write')
    sync = os.path.join(root, 'sync_data', seq)
    os.makedirs(os.path.join(sync, 'thr'), exist_ok=True)
    with open(os.path.join(sync, 'calib.npy'), 'wb') as f:
        np.save(f, np.array(calibration_dict(pairs[0]), dtype=object), allow_pickle=True)
    odom = os.path.join(root, 'odom', seq, 'thr')
    os.makedirs(odom, exist_ok=True)
    stamps = []
    for i, pair in enumerate(pairs):
        frame = f'{i:06d}'
        _write_png16(os.path.join(sync, 'thr', 'img_left', frame + '.png'), pair.left)
        _write_png16(os.path.join(sync, 'thr', 'img_right', frame + '.png'), pair.right)
        _write_png16(os.path.join(root, 'proj_depth', seq, 'thr', 'depth_filtered',
                                  frame + '.png'), sparse_depth_png(pair))
        np.savetxt(os.path.join(odom, frame + '.txt'), pair.pose, fmt='%.9f')
        stamps.append(start_time + pair.timestamp)
    np.savetxt(os.path.join(sync, 'thr', 'timestamps.txt'), np.array(stamps), fmt='%.6f')


def write_split_lists(root: str, splits: Dict[str, List[str]]) -> None:
    """Write every MS2 split list (empty files for splits without sequences)."""
    os.makedirs(root, exist_ok=True)
    for split, name in SPLIT_FILES.items():
        if split == 'test_rainy':
            continue  # alias of test_rain, same file
        with open(os.path.join(root, name), 'w') as f:
            f.writelines(s + '\n' for s in splits.get(split, []))


def write_dataset(root: str, sequences: int, frames: int, height: int = 256, width: int = 640,
                  seed: int = 0, conditions: Iterable[str] = CONDITIONS,
                  max_disparity: float = 192, progress: Optional[Any] = None,
                  family: Optional[str] = 'street', random_rig: bool = False,
                  version: int = RENDERER_VERSION) -> Dict[str, List[str]]:
    """Render and write `sequences` sequences of `frames` frames; returns split -> names.

    Sequence i uses condition `conditions[i % len]` and render seed `seed + i`. `family`
    defaults to street scenes, MS2's domain; None draws each sequence's family. The camera is
    the default MS2-like rig (fx 430 px at 640 px, 0.30 m) unless `random_rig`. `version` is
    the renderer version.
    """
    conditions = list(conditions)
    for c in conditions:
        if c not in CONDITIONS:
            raise ValueError(f'condition {c!r} is not one of {CONDITIONS}')
    splits: Dict[str, List[str]] = {s: [] for s in SPLIT_FILES if s != 'test_rainy'}
    per_condition = dict.fromkeys(CONDITIONS, 0)
    for i in range(sequences):
        cond = conditions[i % len(conditions)]
        order = _SPLIT_ORDER[cond]
        split = order[per_condition[cond] % len(order)]
        per_condition[cond] += 1
        name = sequence_name(i, seed)
        camera = None if random_rig else default_camera(height, width)
        pairs = render_sequence(seed + i, frames, height, width, max_disparity, cond,
                                camera=camera, family=family, version=version)
        start = (datetime.datetime.strptime(name, '_%Y-%m-%d-%H-%M-%S')
                 - datetime.datetime(1970, 1, 1)).total_seconds()
        write_sequence(root, name, pairs, start_time=start)
        splits[split].append(name)
        if progress is not None:
            progress.update(1)
    write_split_lists(root, splits)
    return splits
