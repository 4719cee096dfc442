# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What a rendered pair contains, measured from its dense ground truth and surface tags.

- thin structures: pixels on horizontal runs of at most 4 px whose disparity exceeds that of
  the runs on both sides by more than 1 px (a run ends where neighbouring disparities differ
  by more than 1 px), as a share of the non-sky pixels;
- foliage: pixels on leaf clusters (tag 'foliage'), as a share of the non-sky pixels;
- reflective: pixels where a wet mirror shows another depth, as a share of all pixels;
- occluder in front: whether a tree or pole (tags 'tree', 'thin') stands in front of a
  farther surface, i.e. at least OCCLUDER_MIN_PIXELS of its pixels have a non-sky horizontal
  neighbour within 3 px that is more than 1 px of disparity farther.
"""

from typing import Dict

import numpy as np

from thermostereo_ros.data.synthetic import SyntheticPair, TAGS

THIN_MAX_WIDTH = 4
THIN_JUMP_PX = 1.0
OCCLUDER_MIN_PIXELS = 20


def thin_structure_mask(disparity: np.ndarray, max_width: int = THIN_MAX_WIDTH,
                        jump: float = THIN_JUMP_PX) -> np.ndarray:
    """Pixels on horizontal runs <= max_width px nearer than both neighbouring runs."""
    h, w = disparity.shape
    d = disparity.astype(np.float64)
    starts = np.ones((h, w), bool)
    starts[:, 1:] = np.abs(np.diff(d, axis=1)) > jump
    flat_start = starts.reshape(-1)
    run = np.cumsum(flat_start) - 1
    first = np.flatnonzero(flat_start)
    last = np.append(first[1:], h * w) - 1
    length = last - first + 1
    mean = np.bincount(run, d.reshape(-1)) / length
    col_first, col_last = first % w, last % w
    inner = (col_first > 0) & (col_last < w - 1) & (length <= max_width)
    flat = d.reshape(-1)
    left = flat[np.maximum(first - 1, 0)]
    right = flat[np.minimum(last + 1, h * w - 1)]
    thin = inner & (mean > left + jump) & (mean > right + jump)
    return thin[run].reshape(h, w)


def occluder_pixels(pair: SyntheticPair, reach: int = 3, jump: float = THIN_JUMP_PX) -> int:
    """Tree or pole pixels with a non-sky horizontal neighbour (<= reach px) farther by > jump."""
    if pair.tags is None:
        return 0
    d, sky = pair.disparity, pair.sky
    occluder = np.isin(pair.tags, [TAGS.index('tree'), TAGS.index('thin')])
    found = np.zeros(d.shape, bool)
    for k in range(1, reach + 1):
        for near, far in ((np.s_[:, k:], np.s_[:, :-k]), (np.s_[:, :-k], np.s_[:, k:])):
            found[near] |= occluder[near] & ~sky[far] & (d[far] < d[near] - jump)
    return int(found.sum())


def pair_content(pair: SyntheticPair) -> Dict[str, float]:
    """Thin, foliage, reflective and sky shares, and whether an occluder stands in front."""
    surface = ~pair.sky
    n = max(int(surface.sum()), 1)
    foliage = 0.0 if pair.tags is None else float(
        np.sum((pair.tags == TAGS.index('foliage')) & surface) / n)
    reflective = 0.0 if pair.reflective is None else float(pair.reflective.mean())
    return dict(thin=float(np.sum(thin_structure_mask(pair.disparity) & surface) / n),
                foliage=foliage, reflective=reflective, sky_share=float(pair.sky.mean()),
                occluder_in_front=float(occluder_pixels(pair) >= OCCLUDER_MIN_PIXELS))
