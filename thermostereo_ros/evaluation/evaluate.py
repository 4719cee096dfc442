# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Evaluate disparity methods (the network via StereoEngine, SGBM) on a dataset split.

Frame sources (`iter_frames`):
- `synthetic` without a root: the fixed held-out set (`data.heldout`); split `heldout` is
  all three conditions, `heldout_day|heldout_night|heldout_rain` (or `day|night|rain`) one.
  `heldout_street|heldout_indoor|heldout_flying` one scene family of all three conditions.
  GT: dense disparity over non-sky pixels below max_disparity. Split `validation` (also
  `_day` ... `_flying`) is instead the 24 pairs training validates on, for choosing models.
- `ms2`, or `synthetic` with a root (a tree written by `thermostereo synth`): MS2 split
  lists; GT: filtered LiDAR depth converted to disparity.
- `cats`: every scene with thermal GT (split = hazard, default `default`); disparities are
  made non-negative with the scene's offset and the offset is removed from predictions.
Metrics are pixel-weighted over each split (see `metrics.MetricAccumulator`). Where the
frames mark their sky (synthetic), each method also gets `sky_valid`, the share of sky pixels
it gives a disparity the node would publish, and `sky_points`, those that would become points
within `SKY_POINT_MAX_DEPTH_M`: phantom surfaces, which no GT pixel scores.
"""

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from tqdm import tqdm

from thermostereo_ros.data import cats, heldout, ms2
from thermostereo_ros.data.synthetic import FAMILIES
from thermostereo_ros.evaluation.metrics import (DEPTH_KEYS, discontinuity_region, DISPARITY_KEYS,
                                                 MetricAccumulator)
from thermostereo_ros.inference.postprocess import validity

# The node's default max_depth for points2: a sky pixel farther than this is not drawn.
SKY_POINT_MAX_DEPTH_M = 100.0

# A method maps (left, right) to a disparity, or to (disparity, confidence) when it has one,
# or to (disparity, confidence, kept) when it also rejects pixels itself (the left-right check).
Method = Callable[[np.ndarray, np.ndarray],
                  Union[np.ndarray, Tuple[np.ndarray, np.ndarray],
                        Tuple[np.ndarray, np.ndarray, np.ndarray]]]


@dataclass
class EvalFrame:
    """One pair to evaluate with its ground truth."""

    name: str
    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray
    mask: np.ndarray
    focal_px: Optional[float] = None
    baseline_m: Optional[float] = None
    offset: int = 0  # added to GT disparities by shifting the right image (CATS)
    sky: Optional[np.ndarray] = None  # where the view sees no surface, when known


def parse_synthetic_split(split: str) -> Tuple[int, Optional[str]]:
    """Return the renderer version and condition or family of a synthetic split name.

    A `vN` word names renderer vN's set (heldout_v3_day); without one, the v2 sets, on which
    the shipped weights were chosen and reported.
    """
    kind = 'validation' if split.startswith('validation') else 'heldout'
    words = [w for w in split[len(kind):].split('_') if w]
    versions = [w for w in words if w[:1] == 'v' and w[1:].isdigit()]
    rest = [w for w in words if w not in versions]
    if not split.startswith(kind) or len(versions) > 1 or len(rest) > 1:
        raise ValueError(f'split {split!r}: expected heldout|validation[_vN][_condition or '
                         f'_family]')
    version = int(versions[0][1:]) if versions else heldout.DEFAULT_VERSION
    return version, (rest[0] if rest else None)


def _heldout_frames(split: str, max_frames: Optional[int], size: Optional[tuple],
                    max_disparity: float) -> Iterator[EvalFrame]:
    # max_frames limits each condition, so `heldout` keeps all three conditions.

    validation = split.startswith('validation')
    version, cond = parse_synthetic_split(split)
    family = None
    if cond in FAMILIES:
        family, cond = cond, None
    kwargs = {'version': version}
    if size is not None:
        kwargs.update(height=size[0], width=size[1])
    if max_frames is not None:
        kwargs['count'] = max_frames
    if validation:
        pairs = heldout.validation_pairs(**kwargs)
    else:
        pairs = heldout.heldout_pairs(cond, **kwargs)
    for p in pairs:
        if (family is not None and p.family != family) or \
                (validation and cond is not None and p.condition != cond):
            continue
        mask = ~p.sky & (p.disparity > 0) & (p.disparity < max_disparity)
        yield EvalFrame(f'{p.condition}/{p.family}/{p.seed}', p.left, p.right, p.disparity,
                        mask, p.camera.fx, p.camera.baseline, sky=p.sky)


def _ms2_frames(root: str, split: str, max_frames: Optional[int]) -> Iterator[EvalFrame]:

    n = 0
    for seq in ms2.read_split(root, split):
        calib = ms2.read_calibration(root, seq)
        for frame in ms2.list_frames(root, seq):
            if max_frames is not None and n >= max_frames:
                return
            depth = ms2.load_depth(root, seq, frame)
            if depth is None:
                continue
            disp = ms2.depth_to_disparity(depth, calib.baseline_m, calib.focal_px)
            lp, rp = ms2.thermal_paths(root, seq, frame)
            n += 1
            yield EvalFrame(f'{seq}/{frame}', ms2.load_thermal(lp), ms2.load_thermal(rp), disp,
                            disp > 0, calib.focal_px, calib.baseline_m)


def _cats_frames(root: str, split: str, max_frames: Optional[int]) -> Iterator[EvalFrame]:

    hazard = split if split not in ('', 'test', 'all') else 'default'
    for i, scene in enumerate(cats.list_scenes(root)):
        if max_frames is not None and i >= max_frames:
            return
        s = cats.load_scene(root, scene, hazard)
        off = s.offset
        yield EvalFrame(scene, s.left, cats.shift_right(s.right, off),
                        np.where(s.valid, s.disparity + off, 0).astype(np.float32),
                        s.valid, offset=off)


def iter_frames(data: str, root: Optional[str], split: str, max_frames: Optional[int] = None,
                max_disparity: float = 192, size: Optional[tuple] = None
                ) -> Iterator[EvalFrame]:
    """Frames of one split (see the module docstring); `size` only for held-out smoke runs."""
    if data == 'synthetic' and not root:
        return _heldout_frames(split, max_frames, size, max_disparity)
    if not root:
        raise ValueError(f'--data {data} needs --root')
    if data in ('ms2', 'synthetic'):
        return _ms2_frames(root, split, max_frames)
    if data == 'cats':
        return _cats_frames(root, split, max_frames)
    raise ValueError(f'unknown data {data!r}; expected ms2, cats or synthetic')


def evaluate_split(methods: Dict[str, Method], frames: Iterator[EvalFrame],
                   max_disparity: float = 192, progress: bool = False,
                   desc: str = '', edges_radius: Optional[int] = None,
                   confidence_thresholds: Sequence[float] = (),
                   disparity_ranges: Sequence[Tuple[float, float]] = (),
                   sky_methods: Optional[Sequence[str]] = None
                   ) -> Dict[str, Dict[str, float]]:
    """Run every method on every frame; returns method -> metrics (pixel-weighted).

    With `edges_radius`, also `<method>@edges`: the same metrics over the GT pixels within
    that many px of a depth discontinuity (`metrics.discontinuity_region`). For methods with
    a confidence, each of `confidence_thresholds` T adds `<method>@conf>=T`: the metrics over
    the GT pixels whose confidence is at least T (what the node keeps at
    confidence_threshold T), with `coverage`, the share of GT pixels kept. Each (lo, hi) of
    `disparity_ranges` adds `<method>@gt[lo,hi)`: the GT pixels with lo <= GT < hi, to see
    whether errors sit at near (large) or far (small) disparities. `sky_valid` and `sky_points`
    are counted for the methods named in `sky_methods` (None: all), whose output is what
    they publish: not for a hole-filled one such as the default SGBM baseline. A method that
    returns a `kept` mask gets `<method>@kept`: the GT pixels it kept, with `coverage`; its sky
    counts are what it keeps.
    """
    accs = {name: MetricAccumulator(max_disparity) for name in methods}
    if edges_radius is not None:
        accs.update({f'{name}@edges': MetricAccumulator(max_disparity) for name in methods})
    kept = {(name, t): f'{name}@conf>={t:g}' for name in methods for t in confidence_thresholds}
    ranged = {(name, r): f'{name}@gt[{r[0]:g},{r[1]:g})'
              for name in methods for r in disparity_ranges}
    accs.update({key: MetricAccumulator(max_disparity) for key in ranged.values()})
    sky_counts = {name: np.zeros(3) for name in methods  # sky, with a disparity, as points
                  if sky_methods is None or name in sky_methods}
    if progress:
        frames = tqdm(frames, desc=desc, unit='frame')
    for f in frames:
        near_edge = (discontinuity_region(np.where(f.mask, f.disparity, 0.0), edges_radius)
                     if edges_radius is not None else None)
        in_range = {r: f.mask & (f.disparity >= r[0]) & (f.disparity < r[1])
                    for r in disparity_ranges}
        for name, method in methods.items():
            answer = method(f.left, f.right)
            out: Tuple[Any, ...] = answer if isinstance(answer, tuple) else (answer,)
            pred = np.asarray(out[0], np.float32)
            confidence: Optional[np.ndarray] = out[1] if len(out) > 1 else None
            published = pred
            if len(out) > 2:
                accs.setdefault(f'{name}@kept', MetricAccumulator(max_disparity)).update(
                    pred, f.disparity, mask=f.mask & out[2])
                published = np.where(out[2], pred, np.nan)
            # GT (and the search) were shifted by f.offset; compare in shifted units, where
            # the range check 0 < gt < max_disparity applies to what the method searched.
            accs[name].update(pred, f.disparity, mask=f.mask,
                              focal_px=f.focal_px if f.offset == 0 else None,
                              baseline_m=f.baseline_m if f.offset == 0 else None)
            if near_edge is not None:
                accs[f'{name}@edges'].update(pred, f.disparity, mask=f.mask & near_edge)
            for r, mask in in_range.items():
                accs[ranged[name, r]].update(pred, f.disparity, mask=mask)
            if f.sky is not None and name in sky_counts:
                sky_counts[name] += _sky_counts(published, f, max_disparity)
            for t in confidence_thresholds:
                if confidence is not None:
                    accs.setdefault(kept[name, t], MetricAccumulator(max_disparity)).update(
                        pred, f.disparity, mask=f.mask & (confidence >= t))
    results = {name: acc.result() for name, acc in accs.items()}
    for name, (sky, valid, points) in sky_counts.items():
        if sky > 0:
            results[name].update(sky_valid=valid / sky, sky_points=points / sky)
    covered = [(name, key) for (name, _), key in kept.items()] + \
        [(name, f'{name}@kept') for name in methods]
    for name, key in covered:
        if key in results:
            results[key]['coverage'] = results[key]['pixels'] / max(results[name]['pixels'], 1)
    return results


def _sky_counts(pred: np.ndarray, frame: EvalFrame, max_disparity: float) -> np.ndarray:
    # The node's own rule (confidence_threshold 0), so that this counts what it publishes.
    sky = frame.sky if frame.sky is not None else np.zeros(pred.shape, bool)
    _, valid = validity(pred, np.ones_like(pred), 0.0, max_disparity, 0.0)
    valid &= sky
    points = valid.sum()
    if frame.focal_px and frame.baseline_m:
        limit = frame.focal_px * frame.baseline_m / SKY_POINT_MAX_DEPTH_M
        points = (valid & (pred >= limit)).sum()
    return np.array([sky.sum(), valid.sum(), points], np.float64)


def markdown_table(results: Dict[str, Dict[str, Dict[str, float]]]) -> str:
    """Markdown table: one row per (split, method); disparity then depth columns."""
    keys: List[str] = list(DISPARITY_KEYS)
    if any('coverage' in m for per in results.values() for m in per.values()):
        keys.append('coverage')
    if any('sky_valid' in m for per in results.values() for m in per.values()):
        keys += ['sky_valid', 'sky_points']
    if any('abs_rel' in m for per in results.values() for m in per.values()):
        keys += list(DEPTH_KEYS)
    head = ['split', 'method', 'frames'] + keys
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for split, per in results.items():
        for method, m in per.items():
            cells = [split, method, str(int(m.get('frames', 0)))]
            for k in keys:
                v = m.get(k, math.nan)
                cells.append('-' if v is None or math.isnan(v) else f'{v:.3f}')
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
