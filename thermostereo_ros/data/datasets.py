# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""PyTorch datasets yielding one sample-dict format for synthetic and MS2 data.

Every sample has: `left`, `right` float32 1xHxW (joint 1-99 % normalisation of the raw
pair), `disparity` float32 HxW (left view, 0 = none), `valid_dense` bool HxW, `valid_sparse`
bool HxW (LiDAR-like) and `condition` str. Synthetic: `valid_dense` = non-sky finite GT in
(0, max_disparity); `valid_sparse` = the rendered scan lines. MS2: both are the filtered
LiDAR pixels in (0, max_disparity). Arrays are numpy; the default collate turns them into
tensors. torch is imported only here so the other data modules stay torch-free.

`augment`: None/False = none, True = `augment.augment` with `crop` as its window, a dict of
`augment.augment` keyword arguments (e.g. the disparity shift), or a callable
`(sample, rng) -> sample`. An item may be requested as `(index, augment_seed)`: the
augmentation is then a pure function of that seed, which is how the trainer makes a resumed
run see exactly the batches an uninterrupted one would (worker RNG state cannot be saved).
A plain index draws the augmentation seed from torch's RNG.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from thermostereo_ros.data import augment as aug, ms2
from thermostereo_ros.data.cache import TrainingCache
from thermostereo_ros.data.heldout import assert_training_seed
from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.data.render.scenes import FAMILIES
from thermostereo_ros.data.synthetic import render_pair

AugmentArg = Union[None, bool, dict, Callable]


def _split_index(index: Union[int, Tuple[int, int]]) -> Tuple[int, Optional[int]]:
    if isinstance(index, (tuple, list)):
        return int(index[0]), int(index[1])
    return int(index), None


def _crop_size(crop: Optional[Sequence[int]]) -> Optional[Tuple[int, int]]:
    return None if crop is None else (int(crop[0]), int(crop[1]))


def _finish(left_raw: np.ndarray, right_raw: np.ndarray, disparity: np.ndarray,
            valid_dense: np.ndarray, valid_sparse: np.ndarray, condition: str,
            augment: AugmentArg, crop: Optional[Tuple[int, int]],
            augment_seed: Optional[int] = None) -> dict:
    left, right = normalize_pair(left_raw, right_raw, mode='joint')
    sample: Dict[str, Any] = dict(left=left, right=right,
                                  disparity=disparity.astype(np.float32),
                                  valid_dense=valid_dense, valid_sparse=valid_sparse)
    if augment or crop is not None:
        if augment_seed is None:
            augment_seed = int(torch.randint(0, 2 ** 62, (1,)).item())
        rng = np.random.default_rng(augment_seed)
        if callable(augment):
            sample = augment(sample, rng)
            if crop is not None:
                sample = aug.random_crop(sample, crop, rng)
        elif isinstance(augment, dict):
            sample = aug.augment(sample, rng, crop_size=crop, **augment)
        elif augment:
            sample = aug.augment(sample, rng, crop_size=crop)
        elif crop is not None:
            sample = aug.random_crop(sample, crop, rng)
    sample['left'] = np.asarray(sample['left'], np.float32)[None]
    sample['right'] = np.asarray(sample['right'], np.float32)[None]
    sample['condition'] = condition
    return sample


class SyntheticStereoDataset(Dataset):
    """Pairs rendered on the fly by `render_pair`; item i uses seed `seeds[i]`.

    The condition of seed s is `conditions[s % len(conditions)]`. Seeds must lie below
    `heldout.TRAINING_SEED_LIMIT` unless `allow_heldout=True` (evaluation only).
    """

    def __init__(self, seeds: Iterable[int], height: int = 256, width: int = 640,
                 max_disparity: float = 192, conditions: Sequence[str] = ('day', 'night', 'rain'),
                 augment: AugmentArg = None, crop: Optional[Tuple[int, int]] = None,
                 allow_heldout: bool = False, mix: Optional[dict] = None,
                 version: Optional[int] = None):
        """Store the seed list and render settings; nothing is rendered here.

        `version` is the renderer version (None: the current one).
        """
        self.seeds = [int(s) for s in seeds]
        if not allow_heldout:
            for s in self.seeds:
                assert_training_seed(s)
        self.height, self.width = int(height), int(width)
        self.max_disparity = float(max_disparity)
        self.conditions = tuple(conditions)
        self.augment = augment
        self.crop = _crop_size(crop)
        self.mix = mix
        self.version = version

    def __len__(self) -> int:
        """Return the number of seeds."""
        return len(self.seeds)

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> dict:
        """Render and normalise pair `index` (or `(index, augment_seed)`)."""
        index, augment_seed = _split_index(index)
        seed = self.seeds[index]
        condition = self.conditions[seed % len(self.conditions)]
        kwargs: Dict[str, Any] = {} if self.version is None else {'version': self.version}
        p = render_pair(seed, self.height, self.width, self.max_disparity, condition,
                        mix=self.mix, **kwargs)
        dense = ~p.sky & np.isfinite(p.disparity) & (p.disparity > 0) & \
            (p.disparity < self.max_disparity)
        return _finish(p.left, p.right, p.disparity, dense, p.sparse_valid & dense, condition,
                       self.augment, self.crop, augment_seed)


class CachedStereoDataset(Dataset):
    """Pairs from a training cache (`data.cache`), so a step never waits on rendering.

    Same sample format as SyntheticStereoDataset; `valid_dense` is non-sky GT in
    (0, max_disparity), `valid_sparse` its LiDAR-like subset.
    """

    def __init__(self, root: str, max_disparity: float = 192, augment: AugmentArg = None,
                 crop: Optional[Tuple[int, int]] = None, supervise_sky: bool = False,
                 exclude_families: Sequence[str] = ()):
        """Open (memory-map) the cache; nothing is read yet.

        `supervise_sky`: sky pixels join `valid_dense` with disparity 0 (at infinity), so a
        network learns to output no disparity there instead of a phantom surface.
        `exclude_families`: leave these scene families out (a leave-one-family-out run).
        """
        self.cache = TrainingCache(root)
        unknown = set(exclude_families) - set(FAMILIES)
        if unknown:
            raise ValueError(f'exclude_families: unknown {sorted(unknown)}; families are '
                             f'{", ".join(FAMILIES)}')
        self.indices = [i for i, meta in enumerate(self.cache.meta)
                        if meta['family'] not in set(exclude_families)]
        if not self.indices:
            raise ValueError(f'{root}: no pairs left after excluding {list(exclude_families)}')
        self.max_disparity = float(max_disparity)
        self.augment = augment
        self.crop = _crop_size(crop)
        self.supervise_sky = bool(supervise_sky)

    def __len__(self) -> int:
        """Return the number of cached pairs used (after exclude_families)."""
        return len(self.indices)

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> dict:
        """Read and normalise pair `index` (or `(index, augment_seed)`)."""
        index, augment_seed = _split_index(index)
        index = self.indices[index]
        p = self.cache.pair(index)
        d = p['disparity']
        dense = ~p['sky'] & np.isfinite(d) & (d > 0) & (d < self.max_disparity)
        sparse = p['sparse'] & dense
        if self.supervise_sky:
            dense = dense | p['sky']
        return _finish(p['left'], p['right'], d, dense, sparse,
                       self.cache.meta[index]['condition'], self.augment, self.crop,
                       augment_seed)


class MS2StereoDataset(Dataset):
    """Thermal stereo frames of an MS2 split with filtered-LiDAR disparity.

    Frames without a depth file get disparity 0 everywhere (no supervision).
    """

    def __init__(self, root: str, split: str, max_disparity: float = 192,
                 augment: AugmentArg = None, crop: Optional[Tuple[int, int]] = None,
                 max_frames: Optional[int] = None):
        """Index every (sequence, frame) of the split; reads calibration once per sequence."""
        self.root, self.split = root, split
        self.max_disparity = float(max_disparity)
        self.augment = augment
        self.crop = _crop_size(crop)
        self.condition = ms2.SPLIT_CONDITION.get(split, 'mixed')
        self.calibration = {}
        self.items: List[Tuple[str, str]] = []
        for seq in ms2.read_split(root, split):
            self.calibration[seq] = ms2.read_calibration(root, seq)
            self.items.extend((seq, f) for f in ms2.list_frames(root, seq))
        if max_frames is not None:
            self.items = self.items[:max_frames]

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.items)

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> dict:
        """Load, convert depth to disparity and normalise frame `index` (or with its seed)."""
        index, augment_seed = _split_index(index)
        seq, frame = self.items[index]
        calib = self.calibration[seq]
        left_path, right_path = ms2.thermal_paths(self.root, seq, frame)
        left, right = ms2.load_thermal(left_path), ms2.load_thermal(right_path)
        depth = ms2.load_depth(self.root, seq, frame)
        if depth is None:
            disparity = np.zeros(left.shape, np.float32)
        else:
            disparity = ms2.depth_to_disparity(depth, calib.baseline_m, calib.focal_px)
        valid = (disparity > 0) & (disparity < self.max_disparity)
        return _finish(left, right, disparity, valid, valid.copy(), self.condition,
                       self.augment, self.crop, augment_seed)
