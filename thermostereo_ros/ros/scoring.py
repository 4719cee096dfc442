# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Score published disparities against a depth ground-truth topic (evaluate_against).

A bag (or a driver) may publish depth_gt before or after the image pair, so whichever of the
two arrives second triggers the scoring. The metrics are evaluation/metrics.py's, so the
node, `thermostereo eval` and the demo report the same EPE and D1.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Tuple

import numpy as np

from thermostereo_ros.evaluation.metrics import disparity_metrics, MetricAccumulator
from thermostereo_ros.geometry import StereoCamera

KEPT = 10  # stamps remembered on either side before the oldest is forgotten
# (problem to report, or None; this frame's metrics, or None when nothing was scored yet)
Outcome = Tuple[Optional[str], Optional[Dict[str, float]]]


def _store_bounded(store: Dict[int, Any], stamp: int, value: Any) -> None:
    store[stamp] = value
    while len(store) > KEPT:
        store.pop(min(store))


class GroundTruthScorer:
    """Pairs predictions with depth ground truth by stamp and accumulates the metrics."""

    def __init__(self, max_disparity: float) -> None:
        """Start empty; ground truth at or above `max_disparity` is not scored."""
        self._lock = threading.Lock()
        self._gt_depth: Dict[int, np.ndarray] = {}
        self._pending: Dict[int, Tuple[np.ndarray, StereoCamera]] = {}
        self.accumulator = MetricAccumulator(max_disparity)

    def has_ground_truth(self, stamp: int) -> bool:
        """Return True if ground truth for `stamp` is waiting for its prediction."""
        with self._lock:
            return stamp in self._gt_depth

    def add_ground_truth(self, stamp: int, depth: np.ndarray) -> Outcome:
        """Add depth (m, NaN/0 unknown); score it if its prediction is waiting."""
        with self._lock:
            pending = self._pending.pop(stamp, None)
            if pending is None:
                _store_bounded(self._gt_depth, stamp, depth)
                return None, None
        return self._score(*pending, depth)

    def add_prediction(self, stamp: int, adjusted: np.ndarray, camera: StereoCamera) -> Outcome:
        """Add a principal-point adjusted disparity; score it if its ground truth is here."""
        with self._lock:
            depth = self._gt_depth.pop(stamp, None)
            if depth is None:
                _store_bounded(self._pending, stamp, (adjusted, camera))
                return None, None
        return self._score(adjusted, camera, depth)

    def set_max_disparity(self, value: float) -> None:
        """Change the scored range (after the engine changed)."""
        with self._lock:
            self.accumulator.max_disparity = float(value)

    def result(self) -> Dict[str, float]:
        """Return evaluation/metrics.py's result so far (epe, d1, ..., frames, pixels)."""
        with self._lock:
            return self.accumulator.result()

    def _score(self, adjusted: np.ndarray, camera: StereoCamera, depth: np.ndarray) -> Outcome:
        if depth.shape != adjusted.shape:
            return (f'depth_gt is {depth.shape[1]}x{depth.shape[0]}, the disparity '
                    f'{adjusted.shape[1]}x{adjusted.shape[0]}'), None
        with np.errstate(divide='ignore', invalid='ignore'):
            gt = np.where(depth > 0, np.float32(camera.focal_baseline) / depth, 0.0)
        gt = np.nan_to_num(gt, nan=0.0, posinf=0.0)
        with self._lock:
            self.accumulator.update(adjusted, gt)
            limit = self.accumulator.max_disparity
        frame = disparity_metrics(adjusted, gt, limit)
        frame['pixels'] = float(np.count_nonzero((gt > 0) & (gt < limit)))
        return None, frame
