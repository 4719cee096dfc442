# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Stereo-consistent augmentation of sample dicts (pure numpy).

A sample dict holds `left`, `right` (float32 HxW, normalised to [0, 1]), `disparity`
(float32 HxW, left view, 0 = none) and bool masks `valid_dense`, `valid_sparse`; other
keys are passed through. Geometric operations are applied to both views and to the
ground truth consistently; photometric ones independently per view (like two real
cameras).

Horizontal flip: mirroring both images turns the left camera into a right-looking one,
so the mirrored right image becomes the new left view and the mirrored left image the new
right view. The disparity must then belong to the new left view, i.e. the *right* view's
disparity mirrored; it is obtained by forward-warping the left disparity to the right
view (nearer wins), leaving pixels occluded in the old left view unknown (0). Flipping
without swapping (as the MS2 benchmark code does) yields pairs with negative disparity.
"""

from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

Sample = Dict[str, Any]
_MASK_KEYS = ('valid_dense', 'valid_sparse')


def _maps(sample: Sample) -> List[str]:
    return [k for k in ('disparity',) + _MASK_KEYS if k in sample]


def left_to_right_disparity(disparity: np.ndarray) -> np.ndarray:
    """Forward-warp a left-view disparity to the right view (z-buffer: larger wins)."""
    h, w = disparity.shape
    out = np.zeros((h, w), np.float32)
    ys, xs = np.nonzero(disparity > 0)
    d = disparity[ys, xs].astype(np.float32)
    xr = np.rint(xs - d).astype(np.int64)
    ok = (xr >= 0) & (xr < w)
    ys, xr, d = ys[ok], xr[ok], d[ok]
    # Write in increasing disparity order so the nearest surface is written last and wins.
    order = np.argsort(d, kind='stable')
    out[ys[order], xr[order]] = d[order]
    return out


def hflip(sample: Sample) -> Sample:
    """Mirror both views and swap them; the disparity follows the new left view."""
    out = dict(sample)
    out['left'] = np.ascontiguousarray(np.asarray(sample['right'])[:, ::-1])
    out['right'] = np.ascontiguousarray(np.asarray(sample['left'])[:, ::-1])
    if 'disparity' in sample:
        disp = np.asarray(sample['disparity'], np.float32)
        right_disp = left_to_right_disparity(disp)
        out['disparity'] = np.ascontiguousarray(right_disp[:, ::-1])
        known = out['disparity'] > 0
        for k in _MASK_KEYS:
            if k in sample:
                # Carry each mask to the right view through the same warp.
                warped = left_to_right_disparity(np.where(np.asarray(sample[k], bool), disp, 0))
                out[k] = np.ascontiguousarray(warped[:, ::-1] > 0) & known
    return out


def crop(sample: Sample, top: int, left: int, height: int, width: int) -> Sample:
    """Crop both views and all maps at the same window (disparity is unchanged)."""
    out = dict(sample)
    for k in ('left', 'right') + tuple(_maps(sample)):
        out[k] = np.ascontiguousarray(np.asarray(sample[k])[top:top + height, left:left + width])
    return out


def shift(sample: Sample, k: int, max_disparity: Optional[float] = None) -> Sample:
    """Add k px to every disparity, exactly: keep left[:, :W-k] and right[:, k:].

    Dropping the right view's first k columns moves every right pixel k to the left, so each
    left pixel's match lies k px further away. Street scenes have almost no pixels above
    96 px; this opens the whole range to every scene. Ground truth at or beyond
    `max_disparity` after the shift leaves the masks.
    """
    if k <= 0:
        return dict(sample)
    out = dict(sample)
    w = np.asarray(sample['left']).shape[1]
    if k >= w:
        raise ValueError(f'shift {k} px does not leave any of a {w} px wide sample')
    out['left'] = np.ascontiguousarray(np.asarray(sample['left'])[:, :w - k])
    out['right'] = np.ascontiguousarray(np.asarray(sample['right'])[:, k:])
    for key in _maps(sample):
        out[key] = np.ascontiguousarray(np.asarray(sample[key])[:, :w - k])
    if 'disparity' in out:
        known = np.zeros(out['disparity'].shape, bool)
        for key in _MASK_KEYS:
            if key in out:
                known |= np.asarray(out[key], bool)
        disp = np.where(known, out['disparity'] + np.float32(k), out['disparity'])
        out['disparity'] = disp.astype(np.float32)
        if max_disparity is not None:
            for key in _MASK_KEYS:
                if key in out:
                    out[key] = np.asarray(out[key], bool) & (disp < max_disparity)
    return out


def random_crop(sample: Sample, size: Tuple[int, int], rng: np.random.Generator) -> Sample:
    """Random window of `size` = (height, width); pads nothing, so size must fit."""
    h, w = np.asarray(sample['left']).shape[:2]
    ch, cw = size
    if ch > h or cw > w:
        raise ValueError(f'crop {size} larger than sample {(h, w)}')
    return crop(sample, int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)),
                ch, cw)


def rescale(sample: Sample, factor: float) -> Sample:
    """Resize images (bilinear) and ground truth (nearest), multiplying disparity by factor."""
    out = dict(sample)
    h, w = np.asarray(sample['left']).shape[:2]
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    for k in ('left', 'right'):
        out[k] = cv2.resize(np.asarray(sample[k], np.float32), size,
                            interpolation=cv2.INTER_LINEAR)
    if 'disparity' in sample:
        # Nearest keeps sparse/invalid (0) pixels from blending with valid ones.
        out['disparity'] = cv2.resize(np.asarray(sample['disparity'], np.float32), size,
                                      interpolation=cv2.INTER_NEAREST) * np.float32(factor)
    for k in _MASK_KEYS:
        if k in sample:
            out[k] = cv2.resize(np.asarray(sample[k], np.uint8), size,
                                interpolation=cv2.INTER_NEAREST) > 0
    return out


def photometric(sample: Sample, rng: np.random.Generator, gain: float = 0.1,
                offset: float = 0.05, gamma: float = 0.15, noise: float = 0.02) -> Sample:
    """Per-view random gain, offset, gamma and Gaussian noise; result clipped to [0, 1]."""
    out = dict(sample)
    for k in ('left', 'right'):
        img = np.clip(np.asarray(sample[k], np.float32), 0.0, 1.0)
        img = img ** np.float32(np.exp(rng.uniform(-gamma, gamma)))
        img = img * np.float32(1 + rng.uniform(-gain, gain)) + np.float32(
            rng.uniform(-offset, offset))
        img = img + rng.normal(0.0, rng.uniform(0, noise), img.shape).astype(np.float32)
        out[k] = np.clip(img, 0.0, 1.0).astype(np.float32)
    return out


def augment(sample: Sample, rng: np.random.Generator, crop_size: Optional[Tuple[int, int]] = None,
            flip_prob: float = 0.5, scale_range: Tuple[float, float] = (0.8, 1.2),
            scale_prob: float = 0.3, shift_prob: float = 0.0, shift_max: int = 0,
            max_disparity: Optional[float] = None) -> Sample:
    """Apply the training augmentation: scale, flip (mirror + swap), shift, crop, jitter.

    `shift_prob` of the samples get a disparity shift (`shift`) of up to `shift_max` px, as
    far as the crop window still fits.
    """
    if scale_prob > 0 and rng.random() < scale_prob:
        factor = float(rng.uniform(*scale_range))
        if crop_size is not None:
            h, w = np.asarray(sample['left']).shape[:2]
            # Never shrink below the crop window.
            factor = max(factor, crop_size[0] / h, crop_size[1] / w)
        sample = rescale(sample, factor)
    if flip_prob > 0 and rng.random() < flip_prob:
        sample = hflip(sample)
    if shift_prob > 0 and rng.random() < shift_prob:
        room = np.asarray(sample['left']).shape[1] - (crop_size[1] if crop_size else 1)
        k = int(rng.integers(1, max(min(shift_max, room), 1) + 1))
        sample = shift(sample, k, max_disparity)
    if crop_size is not None:
        sample = random_crop(sample, crop_size, rng)
    return photometric(sample, rng)
