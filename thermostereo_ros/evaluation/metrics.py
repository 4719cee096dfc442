# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Stereo disparity and depth metrics, and an accumulator over a split.

Disparity metrics use pixels with 0 < gt < max_disparity (and an optional mask):
EPE (mean absolute error, px), D1 (KITTI: error > 3 px AND > 5 % of gt, in %), and
bad-1/2/3 (error > 1/2/3 px, in %).
Depth metrics (depth = f * B / disparity; predicted disparity <= 0 is clamped to a tiny
value so the depth stays finite) use 1e-3 m < gt depth < 80 m: AbsRel, SqRel, RMSE,
RMSElog, log10, and delta < 1.25, 1.25^2, 1.25^3 (fractions, in %).

Averaging convention: `MetricAccumulator` is pixel-weighted over the whole split, i.e. it
sums errors and counts over all valid pixels of all frames and divides once (like the
KITTI devkit's D1-all over a set); frames with more valid pixels weigh more. RMSE and
RMSElog are the square roots of the split-wide mean squares.
"""

from typing import Dict, Optional

import numpy as np

DISPARITY_KEYS = ('epe', 'd1', 'bad1', 'bad2', 'bad3')
DEPTH_KEYS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'a1', 'a2', 'a3')
MIN_DEPTH_M = 1e-3
MAX_DEPTH_M = 80.0


def _disparity_sums(pred: np.ndarray, gt: np.ndarray, max_disparity: float,
                    mask: Optional[np.ndarray]) -> Dict[str, float]:
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} != ground-truth shape {gt.shape}')
    valid = np.isfinite(gt) & (gt > 0) & (gt < max_disparity)
    if mask is not None:
        valid &= np.asarray(mask, bool)
    err = np.abs(np.nan_to_num(pred[valid], nan=0.0, posinf=0.0, neginf=0.0) - gt[valid])
    return dict(n=float(valid.sum()), epe=float(err.sum()),
                d1=float(((err > 3.0) & (err > 0.05 * gt[valid])).sum()),
                bad1=float((err > 1.0).sum()), bad2=float((err > 2.0).sum()),
                bad3=float((err > 3.0).sum()))


def _depth_sums(pred_disp: np.ndarray, gt_disp: np.ndarray, focal_px: float,
                baseline_m: float, mask: Optional[np.ndarray]) -> Dict[str, float]:
    fb = float(focal_px) * float(baseline_m)
    gt_disp = np.asarray(gt_disp, np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        gt = np.where(gt_disp > 0, fb / gt_disp, 0.0)
    valid = np.isfinite(gt) & (gt > MIN_DEPTH_M) & (gt < MAX_DEPTH_M)
    if mask is not None:
        valid &= np.asarray(mask, bool)
    gt = gt[valid]
    pd = np.nan_to_num(np.asarray(pred_disp, np.float64)[valid], nan=0.0)
    # Clamp the predicted depth into the evaluated range so log terms stay finite.
    pred = np.clip(fb / np.maximum(pd, 1e-6), MIN_DEPTH_M, MAX_DEPTH_M)
    ratio = np.maximum(gt / pred, pred / gt)
    return dict(n=float(gt.size), abs_rel=float((np.abs(gt - pred) / gt).sum()),
                sq_rel=float(((gt - pred) ** 2 / gt).sum()), rmse=float(((gt - pred) ** 2).sum()),
                rmse_log=float(((np.log(gt) - np.log(pred)) ** 2).sum()),
                log10=float(np.abs(np.log10(gt) - np.log10(pred)).sum()),
                a1=float((ratio < 1.25).sum()), a2=float((ratio < 1.25 ** 2).sum()),
                a3=float((ratio < 1.25 ** 3).sum()))


def _finish_disparity(s: Dict[str, float]) -> Dict[str, float]:
    n = s['n']
    if n == 0:
        return {k: float('nan') for k in DISPARITY_KEYS}
    return dict(epe=s['epe'] / n, d1=100 * s['d1'] / n, bad1=100 * s['bad1'] / n,
                bad2=100 * s['bad2'] / n, bad3=100 * s['bad3'] / n)


def _finish_depth(s: Dict[str, float]) -> Dict[str, float]:
    n = s['n']
    if n == 0:
        return {k: float('nan') for k in DEPTH_KEYS}
    out = {k: s[k] / n for k in DEPTH_KEYS}
    out['rmse'] = float(np.sqrt(out['rmse']))
    out['rmse_log'] = float(np.sqrt(out['rmse_log']))
    for k in ('a1', 'a2', 'a3'):
        out[k] *= 100
    return out


def disparity_metrics(pred: np.ndarray, gt: np.ndarray, max_disparity: float = 192.0,
                      mask: Optional[np.ndarray] = None) -> Dict[str, float]:
    """EPE (px), D1, bad-1/2/3 (%) of one frame over 0 < gt < max_disparity (and `mask`)."""
    return _finish_disparity(_disparity_sums(pred, gt, max_disparity, mask))


def depth_metrics(pred_disparity: np.ndarray, gt_disparity: np.ndarray, focal_px: float,
                  baseline_m: float, mask: Optional[np.ndarray] = None) -> Dict[str, float]:
    """AbsRel, SqRel, RMSE (m), RMSElog, log10, delta<1.25^k (%) from disparities."""
    return _finish_depth(_depth_sums(pred_disparity, gt_disparity, focal_px, baseline_m, mask))


class MetricAccumulator:
    """Pixel-weighted sums over a split (see the module docstring for the convention)."""

    def __init__(self, max_disparity: float = 192.0):
        """Start empty; `max_disparity` bounds the evaluated ground truth (exclusive)."""
        self.max_disparity = float(max_disparity)
        self.frames = 0
        self._disp = dict.fromkeys(('n',) + DISPARITY_KEYS, 0.0)
        self._depth = dict.fromkeys(('n',) + DEPTH_KEYS, 0.0)

    def update(self, pred: np.ndarray, gt: np.ndarray, mask: Optional[np.ndarray] = None,
               focal_px: Optional[float] = None, baseline_m: Optional[float] = None) -> None:
        """Add one frame; depth metrics are accumulated when focal and baseline are given."""
        if mask is not None:
            gt = np.where(np.asarray(mask, bool), gt, 0.0)
        for k, v in _disparity_sums(pred, gt, self.max_disparity, None).items():
            self._disp[k] += v
        if focal_px is not None and baseline_m is not None:
            in_range = (np.asarray(gt) > 0) & (np.asarray(gt) < self.max_disparity)
            for k, v in _depth_sums(pred, gt, focal_px, baseline_m, in_range).items():
                self._depth[k] += v
        self.frames += 1

    @property
    def pixels(self) -> int:
        """Number of evaluated disparity pixels so far."""
        return int(self._disp['n'])

    def result(self) -> Dict[str, float]:
        """Metrics so far: disparity keys, depth keys (NaN if none), `frames`, `pixels`."""
        out = _finish_disparity(self._disp)
        if self._depth['n'] > 0:
            out.update(_finish_depth(self._depth))
        out['frames'] = float(self.frames)
        out['pixels'] = float(self.pixels)
        return out

    def compute(self) -> Dict[str, float]:
        """Alias of `result()`."""
        return self.result()


def discontinuity_region(gt: np.ndarray, radius: int = 4, jump_px: float = 1.0,
                         jump_rel: float = 0.1) -> np.ndarray:
    """Pixels within `radius` px of a depth discontinuity of the ground truth.

    A discontinuity is a pair of 4-neighbours whose GT disparities differ by more than
    `jump_px` and by more than `jump_rel` of the larger one (so a slanted road's steady
    gradient is not an edge); GT 0 (unknown, sky) next to a known pixel counts as an edge.
    """
    # OpenCV only where an image is decoded, written or matched.
    import cv2

    d = np.asarray(gt, np.float32)
    edge = np.zeros(d.shape, bool)
    for a, b, sl_a, sl_b in ((d[:, 1:], d[:, :-1], np.s_[:, 1:], np.s_[:, :-1]),
                             (d[1:], d[:-1], np.s_[1:], np.s_[:-1])):
        jump = np.abs(a - b) > np.maximum(jump_px, jump_rel * np.maximum(a, b))
        edge[sl_a] |= jump
        edge[sl_b] |= jump
    size = 2 * int(radius) + 1
    return cv2.dilate(edge.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
