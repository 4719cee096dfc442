# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The textured-plane suite: whether a matcher finds a plane at every disparity it covers.

The simplest stereo scene is a textured plane. Each case is a thermal-like 14-bit pair: a
texture (smooth noise at a few scales, or a photograph) seen by the left view and, through the
plane's exact disparity, by the right view, with its own sensor noise in each. Planes are
full-frame or a patch in front of a far background, fronto-parallel or slanted, at several
contrasts. A plane with disparity d(x, y) = a + b x + c y maps a left pixel x to the right
pixel x - d, so the right view samples the texture at x = (x_r + a + c y) / (1 - b): the
ground truth is exact by construction.

Score: the share of the plane's matchable pixels (their match lies inside the right view)
within 3 px of the truth, per nominal disparity. The suite renders nothing with the scene
renderer, so it is independent of the training data.
"""

from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import cv2
import numpy as np

from thermostereo_ros.data.render import textures

Matcher = Callable[[np.ndarray, np.ndarray], np.ndarray]   # (left, right) -> disparity px
DISPARITIES = (8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 190)
WITHIN_PX = 3.0
SEED = 20_261_207


@dataclass
class PlaneCase:
    """One pair of the suite with its exact disparity and the pixels that are scored."""

    name: str
    disparity: float             # nominal (at the image centre)
    left: np.ndarray
    right: np.ndarray
    truth: np.ndarray
    scored: np.ndarray


def _texture(rng: np.random.Generator, kind: str, size: Tuple[int, int]) -> np.ndarray:
    """Zero-mean unit-variance texture field of `size` (h, w), smooth noise or a photograph."""
    h, w = size
    if kind in textures.NAMES:
        tile = textures.pyramid(kind)[0]
        reps = (h // tile.shape[0] + 1, w // tile.shape[1] + 1)
        return np.tile(tile, reps)[:h, :w].astype(np.float32)
    out = np.zeros(size, np.float32)
    for sigma, weight in ((12.0, 0.6), (4.0, 0.3), (1.5, 0.25)):
        layer = cv2.GaussianBlur(rng.standard_normal(size).astype(np.float32), (0, 0), sigma)
        out += weight * layer / (layer.std() + 1e-9)
    return out / (out.std() + 1e-9)


def _sample(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return cv2.remap(field, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT_101)


def plane_case(rng: np.random.Generator, disparity: float, height: int, width: int,
               slant: Tuple[float, float], patch: bool, texture: str, contrast: float,
               noise: float = 8.0) -> PlaneCase:
    """Render one plane pair; `slant` is (b, c) of d = a + b x + c y (px per px)."""
    b, c = slant
    ys, xs = np.mgrid[:height, :width].astype(np.float64)
    a = disparity - b * (width / 2) - c * (height / 2)
    truth = (a + b * xs + c * ys).astype(np.float32)
    pad = int(disparity * 1.6) + 64
    field = _texture(rng, texture, (height, width + pad))
    back = _texture(rng, 'noise', (height, width + pad))
    d_back = 2.0
    base = 4000.0
    left = base + contrast * _sample(field, xs + pad, ys)
    # Right view: x_left = (x_r + a + c y) / (1 - b) on the plane; x_r + d_back behind it.
    right = base + contrast * _sample(field, (xs + a + c * ys) / (1 - b) + pad, ys)
    scored = (xs - truth) >= 0
    if patch:
        y0, y1 = height // 5, height - height // 5
        x0, x1 = int(width * 0.25), int(width * 0.9)
        inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
        back_left = base + contrast * _sample(back, xs + pad, ys)
        back_right = base + contrast * _sample(back, xs + d_back + pad, ys)
        left = np.where(inside, left, back_left)
        # Where the right view sees the patch: x_r = x - d(x) for x inside the patch.
        x_left_of_right = (xs + a + c * ys) / (1 - b)
        patch_r = ((ys >= y0) & (ys < y1) & (x_left_of_right >= x0) & (x_left_of_right < x1))
        right = np.where(patch_r, right, back_right)
        truth = np.where(inside, truth, np.float32(d_back))
        scored &= inside
    left = left + rng.normal(0, noise, left.shape)
    right = right + rng.normal(0, noise, right.shape)
    name = (f"{'patch' if patch else 'full'}/{texture}/c{contrast:.0f}/"
            f"{'slanted' if b or c else 'fronto'}")
    return PlaneCase(name, float(disparity), np.clip(left, 0, 16383).astype(np.uint16),
                     np.clip(right, 0, 16383).astype(np.uint16), truth, scored)


def cases(height: int = 256, width: int = 640, disparities: Sequence[float] = DISPARITIES,
          seed: int = SEED) -> Iterator[PlaneCase]:
    """Yield the suite: per disparity, four variants (full/patch, fronto/slanted, textures)."""
    rng = np.random.default_rng(seed)
    variants = [(False, (0.0, 0.0), 'noise', 120.0), (False, (0.02, 0.03), 'gravel', 60.0),
                (True, (0.0, 0.0), 'brick', 80.0), (True, (-0.03, 0.02), 'noise', 40.0)]
    for d in disparities:
        for patch, slant, texture, contrast in variants:
            # Keep a slanted plane's whole range within (0, d * 1.3].
            b, c = slant
            spread = abs(b) * width / 2 + abs(c) * height / 2
            scale = min(1.0, 0.3 * d / spread) if spread > 0 else 1.0
            yield plane_case(rng, d, height, width, (b * scale, c * scale), patch, texture,
                             contrast)


def score(matcher: Matcher, suite: Sequence[PlaneCase]) -> Dict[float, float]:
    """Share of scored pixels within WITHIN_PX of the truth, per nominal disparity."""
    hits: Dict[float, List[float]] = {}
    for case in suite:
        predicted = matcher(case.left, case.right)
        good = np.abs(predicted - case.truth) < WITHIN_PX
        hits.setdefault(case.disparity, []).append(float(good[case.scored].mean()))
    return {d: float(np.mean(v)) for d, v in sorted(hits.items())}


def usable_range(shares: Dict[float, float], required: float = 0.95) -> float:
    """Largest disparity up to which every tested disparity meets `required` (0 if none)."""
    last = 0.0
    for d, share in sorted(shares.items()):
        if share < required:
            break
        last = d
    return last
