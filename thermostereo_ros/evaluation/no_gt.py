# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Depth quality without ground truth: what a user can measure on their own footage.

Per pair, from the network's left and right views (StereoEngine.infer_left_right):
- `lr_consistency`: the share of valid pixels that pass the left-right check (higher: better);
- `photometric_residual`: mean |left - right warped to the left view| over valid pixels, in
  the normalised intensities the network sees (lower: better);
- `valid_share`: the share of pixels with a disparity the node would publish;
- `top_invalid_share`: the share of the top rows left without depth, a proxy for the sky on
  forward-looking rigs (higher: fewer phantom obstacles above the horizon);
- `temporal_change` (sequences only): the median disparity change, px, between consecutive
  pairs over the pixels valid in both whose intensity barely changed: static background,
  which should keep its depth (lower: steadier).
`rank_validation` says how well each measure ranks frames by their D1 where GT exists.
"""

from __future__ import annotations

import math
from typing import (Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple)

import numpy as np

from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.evaluation.metrics import disparity_metrics
from thermostereo_ros.inference.left_right import consistent, DEFAULT_TOLERANCE_PX
from thermostereo_ros.inference.postprocess import validity

MEASURES = ('lr_consistency', 'photometric_residual', 'valid_share', 'top_invalid_share',
            'temporal_change')
# Whether a larger value of the measure means better depth (the sign expected against D1).
HIGHER_IS_BETTER = {'lr_consistency': True, 'photometric_residual': False,
                    'valid_share': True, 'top_invalid_share': True, 'temporal_change': False}
# The top rows that stand for the sky: a tenth of the image.
TOP_ROWS_SHARE = 0.1
# A pixel is static background between two pairs when its normalised intensity moved less
# than this (the normalised range is 0..1).
STATIC_INTENSITY = 0.02


class Pair(NamedTuple):
    """A pair without ground truth (a bag's)."""

    name: str
    left: np.ndarray
    right: np.ndarray


def warp_right_to_left(right: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """Return the right image sampled at x - d for each left pixel (linear; NaN outside)."""
    h, w = right.shape
    x = np.arange(w, dtype=np.float32)[np.newaxis, :] - np.nan_to_num(disparity, nan=-1e9)
    inside = (x >= 0) & (x <= w - 1)
    x0 = np.clip(np.floor(x), 0, w - 1).astype(np.intp)
    x1 = np.minimum(x0 + 1, w - 1)
    t = np.clip(x - x0, 0.0, 1.0)
    sampled = (np.take_along_axis(right, x0, axis=1) * (1 - t)
               + np.take_along_axis(right, x1, axis=1) * t)
    return np.where(inside, sampled, np.nan).astype(np.float32)


def frame_measures(left_n: np.ndarray, right_n: np.ndarray, disparity: np.ndarray,
                   right_disparity: np.ndarray, valid: np.ndarray,
                   tolerance: float = DEFAULT_TOLERANCE_PX) -> Dict[str, float]:
    """Return the single-pair measures (module docstring) of one pair's estimate."""
    count = int(np.count_nonzero(valid))
    ok = consistent(disparity, right_disparity, tolerance) & valid
    warped = warp_right_to_left(right_n, disparity)
    residual = np.abs(left_n - warped)[valid & np.isfinite(warped)]
    top = max(1, int(round(valid.shape[0] * TOP_ROWS_SHARE)))
    return {'lr_consistency': np.count_nonzero(ok) / count if count else math.nan,
            'photometric_residual': float(residual.mean()) if residual.size else math.nan,
            'valid_share': count / valid.size,
            'top_invalid_share': float(1.0 - valid[:top].mean())}


def temporal_change(previous: Tuple[np.ndarray, np.ndarray, np.ndarray],
                    current: Tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    """Median |disparity change| (px) over static valid pixels of (left_n, disparity, valid)."""
    (left_a, disp_a, valid_a), (left_b, disp_b, valid_b) = previous, current
    if left_a.shape != left_b.shape:
        return math.nan
    static = valid_a & valid_b & (np.abs(left_b - left_a) < STATIC_INTENSITY)
    if not static.any():
        return math.nan
    return float(np.median(np.abs(disp_b - disp_a)[static]))


def measure_run(engine: Any, frames: Iterable[Any], max_disparity: float, sequence: bool,
                tolerance: float = DEFAULT_TOLERANCE_PX) -> List[Dict[str, Any]]:
    """Run the engine on every frame (.name, .left, .right) and return each one's measures.

    `sequence`: consecutive frames are consecutive images of one camera (a bag, an MS2
    sequence), so temporal_change is measured; else it is NaN. Frames that carry GT
    (.disparity and .mask, as evaluate.EvalFrame) also get their `d1`, for rank_validation;
    the measures never read it.
    """
    rows: List[Dict[str, Any]] = []
    previous = None
    for frame in frames:
        result, right_view = engine.infer_left_right(frame.left, frame.right)
        _, valid = validity(result.disparity, result.confidence, 0.0, max_disparity, 0.0)
        left_n, right_n = normalize_pair(frame.left, frame.right)
        row: Dict[str, Any] = {'frame': frame.name}
        row.update(frame_measures(left_n, right_n, result.disparity, right_view, valid,
                                  tolerance))
        current = (left_n, result.disparity, valid)
        row['temporal_change'] = (temporal_change(previous, current)
                                  if sequence and previous is not None else math.nan)
        previous = current
        if getattr(frame, 'disparity', None) is not None:
            row['d1'] = disparity_metrics(result.disparity, frame.disparity, max_disparity,
                                          frame.mask)['d1']
        rows.append(row)
    return rows


def summary(rows: Sequence[Mapping[str, Any]]) -> Dict[str, float]:
    """Return the mean of each measure (and of `d1`, where known) over the frames."""
    out: Dict[str, float] = {'frames': float(len(rows))}
    for key in MEASURES + ('d1',):
        values = [float(r[key]) for r in rows if math.isfinite(float(r.get(key, math.nan)))]
        out[key] = float(np.mean(values)) if values else math.nan
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind='stable')
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):  # ties share their mean rank
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation over the pairs where both are finite (NaN if < 3).

    Written here because scipy is not otherwise a dependency of the package.
    """
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        return math.nan
    ra, rb = _ranks(a[keep]), _ranks(b[keep])
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def rank_validation(rows: Sequence[Mapping[str, Any]]) -> Dict[str, float]:
    """Return each measure's rank correlation with the rows' `d1`, signed so that +1 is ideal.

    +1: the measure orders the frames exactly as their D1 does (better measure, lower D1).
    """
    d1 = [float(r.get('d1', math.nan)) for r in rows]
    out: Dict[str, float] = {}
    for key in MEASURES:
        rho = rank_correlation([float(r[key]) for r in rows], d1)
        out[key] = -rho if HIGHER_IS_BETTER[key] else rho
    return out


def markdown(name: str, stats: Mapping[str, float],
             validation: Optional[Mapping[str, float]] = None) -> str:
    """Markdown table of one run's measures (and, with GT, how well each ranks D1)."""
    lines = [f'### {name}: {int(stats["frames"])} pairs', '',
             '| measure | mean | better | rank correlation with D1 (+1 ideal) |',
             '|---|---|---|---|']
    for key in MEASURES:
        better = 'higher' if HIGHER_IS_BETTER[key] else 'lower'
        rho = validation.get(key, math.nan) if validation else math.nan
        lines.append(f'| {key} | {_fmt(stats[key])} | {better} | {_fmt(rho)} |')
    return '\n'.join(lines)


def _fmt(value: float) -> str:
    return '-' if value is None or not math.isfinite(value) else f'{value:.3f}'
