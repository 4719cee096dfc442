# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Photographic textures (CC0, see README.md in this folder) as normalised mip pyramids."""

import functools
import pathlib
from typing import Tuple

import cv2
import numpy as np

NAMES = ('brick', 'grass', 'gravel')
FOLDER = pathlib.Path(__file__).resolve().parent


def bilinear_wrap(tile: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample a periodic square tile at float texel coordinates (u along columns, v rows).

    cv2.remap needs image-shaped maps and limits their size; pixels here are flat lists of
    arbitrary length, so this is four numpy gathers.
    """
    size = tile.shape[0]
    u0f, v0f = np.floor(u), np.floor(v)
    fu, fv = (u - u0f).astype(np.float32), (v - v0f).astype(np.float32)
    u0 = u0f.astype(np.int64) % size
    v0 = v0f.astype(np.int64) % size
    u1, v1 = (u0 + 1) % size, (v0 + 1) % size
    top = tile[v0, u0] * (1 - fu) + tile[v0, u1] * fu
    bottom = tile[v1, u0] * (1 - fu) + tile[v1, u1] * fu
    return top * (1 - fv) + bottom * fv


@functools.lru_cache(maxsize=None)
def pyramid(name: str) -> Tuple[np.ndarray, ...]:
    """Levels 256, 128, ..., 8 px of one photo: zero mean, unit variance, no shading."""
    if name not in NAMES:
        raise ValueError(f'unknown texture {name!r}; choose from {NAMES}')
    image = cv2.imread(str(FOLDER / f'{name}.png'), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(f'texture {name!r} is missing from {FOLDER}')
    grey = image.astype(np.float32)
    # The photos' slow illumination gradients are not texture: remove them, keep the detail.
    # (They do not tile seamlessly; the seam is one more edge, the same in both views.)
    grey -= cv2.GaussianBlur(grey, (0, 0), 24.0, borderType=cv2.BORDER_REFLECT_101)
    grey = (grey - grey.mean()) / (grey.std() + 1e-6)
    levels = [grey]
    while levels[-1].shape[0] > 8:
        levels.append(cv2.pyrDown(levels[-1]))
    return tuple(lv / (lv.std() + 1e-6) for lv in levels)


def sample(name: str, u: np.ndarray, v: np.ndarray, texels_per_pixel: np.ndarray
           ) -> np.ndarray:
    """Photo values at texel coordinates (of the 256-px level; wrapping), filtered by footprint.

    `texels_per_pixel` is how many full-resolution texels one image pixel covers: the level
    is chosen so that one of its texels spans about two pixels, and detail finer than that
    (which would alias differently in the two views) fades out.
    """
    levels = pyramid(name)
    # A level whose texels span two pixels: finer ones would sit at the pixel grid's Nyquist
    # limit and alias differently in the two views.
    raw = np.log2(np.maximum(texels_per_pixel, 1e-6)) + 1.0
    level = np.clip(raw, 0, len(levels) - 1)
    # Blend the two nearest levels (trilinear mip-mapping): a hard level choice would switch
    # at slightly different points in the two views, whose footprints differ a little.
    lower = np.floor(level).astype(np.int64)
    frac = (level - lower).astype(np.float32)
    out = np.zeros(u.shape, np.float32)
    for k, tile in enumerate(levels):
        weight = np.where(lower == k, 1.0 - frac, 0.0) + np.where(lower + 1 == k, frac, 0.0)
        m = weight > 0
        if not np.any(m):
            continue
        scale = tile.shape[0] / levels[0].shape[0]
        out[m] += weight[m] * bilinear_wrap(tile, u[m] * scale, v[m] * scale)
    # The coarsest level still has texels smaller than a pixel beyond it: fade to nothing.
    return out * np.clip(len(levels) - raw, 0.0, 1.0).astype(np.float32)
