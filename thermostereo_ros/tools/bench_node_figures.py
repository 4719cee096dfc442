# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node bench's figures: delivery and latency, the node's own account, where time went."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from thermostereo_ros.evaluation.bench_measure import summarize_ms
from thermostereo_ros.evaluation.report import percentiles
from thermostereo_ros.geometry import StereoCamera
from thermostereo_ros.inference.postprocess import mask_invalid, validity
from thermostereo_ros.ros import diagnostics as keys
from thermostereo_ros.ros.conversions import (disparity_to_pointcloud, image_to_numpy,
                                              make_disparity_image, numpy_to_image, valid_window)
from thermostereo_ros.tools.collector import StatusRecord


def camera_infos(height: int, width: int, fx: float, baseline: float) -> Tuple[Any, Any]:
    """Rectified left/right CameraInfo for a pinhole pair with principal point at the centre."""
    infos = []
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    for frame, tx in (('thermal_left_optical', 0.0), ('thermal_right_optical', -fx * baseline)):
        info = CameraInfo(height=height, width=width, distortion_model='plumb_bob')
        info.header.frame_id = frame
        info.d = [0.0] * 5
        info.k = [fx, 0.0, cx, 0.0, fx, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, tx, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        infos.append(info)
    return infos[0], infos[1]


def offline_components_ms(image: np.ndarray, fx: float, baseline: float,
                          repeats: int = 10) -> Dict[str, float]:
    """Median cost of the node's per-pair conversion and message building, timed here.

    Same functions and sizes as the node's callbacks and worker, measured apart from DDS and
    inference; the node's own per-stage timings are in its diagnostics (node_*_p50_ms).
    """
    height, width = image.shape
    left_info, right_info = camera_infos(height, width, fx, baseline)
    camera = StereoCamera.from_projection(left_info.p, right_info.p, left_info.k)
    header = Header(frame_id='thermal_left_optical')
    msg = numpy_to_image(image, header, 'mono16')
    disparity = np.random.default_rng(0).uniform(1, 64, image.shape).astype(np.float32)
    confidence = np.ones_like(disparity)

    def post() -> None:
        # The node's validity mask and DisparityImage / PointCloud2 construction.
        adjusted, valid = validity(disparity, confidence, camera.doffs, 192.0, 0.0)
        out = mask_invalid(adjusted, valid, copy=False)
        make_disparity_image(out, header, f=fx, t=baseline, min_disparity=0.0,
                             max_disparity=192.0, delta_d=1 / 16, valid_window=valid_window(valid))
        disparity_to_pointcloud(out, camera, header, image, adjusted=True, max_depth=100.0)

    def median_ms(fn: Callable[[], Any]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
        return float(np.median(times))

    return {'conversion_ms': 2 * median_ms(lambda: image_to_numpy(msg)),
            'message_build_ms': median_ms(post)}


def topic_summary(sent: Dict[int, int], receipts: Dict[int, int],
                  rate_hz: float) -> Dict[str, Any]:
    """Return delivery, rate and latency (stamp to receipt) of one output topic."""
    got = sorted((stamp, t) for stamp, t in receipts.items() if stamp in sent)
    latencies = [(t - stamp) / 1e6 for stamp, t in got]
    rate = None
    if len(got) >= 2:
        span = (got[-1][1] - got[0][1]) / 1e9
        rate = (len(got) - 1) / span if span > 0 else None
    return {'delivered': len(got), 'drops': len(sent) - len(got), 'rate_hz': rate,
            'delivered_fraction': len(got) / max(1, len(sent)),
            'latency': summarize_ms(latencies)}


def _float(values: Dict[str, str], key: str) -> Optional[float]:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None


def breakdown(diag: Dict[str, str], offline: Dict[str, float]) -> Dict[str, Any]:
    """Return the node's stage p50s and each stage's share of its pipeline."""
    inference = _float(diag, keys.latency_key('inference_latency', 50))
    pipeline = _float(diag, keys.latency_key('pipeline_latency', 50))
    out: Dict[str, Any] = {
        'node_inference_p50_ms': inference, 'node_pipeline_p50_ms': pipeline,
        'node_end_to_end_p50_ms': _float(diag, keys.latency_key('end_to_end_latency', 50)),
        # Stage timings the node measures itself (its /diagnostics).
        **{f'node_{stage}_p50_ms': _float(diag, f'{stage}_p50_ms')
           for stage in ('queue_wait', 'conversion', 'postprocess', 'publish')},
        'conversion_ms (both images, timed in the bench process)': offline['conversion_ms'],
        'message_build_ms (mask, DisparityImage, points, PointCloud2; timed in the bench '
        'process)': offline['message_build_ms'],
    }
    if inference and pipeline:
        out['inference_share_of_pipeline'] = inference / pipeline
        out['conversion_share_of_pipeline'] = offline['conversion_ms'] / pipeline
        out['message_build_share_of_pipeline'] = offline['message_build_ms'] / pipeline
        out['other_share_of_pipeline (sync wait, queue, publish, unattributed)'] = max(
            0.0, 1.0 - (inference + offline['conversion_ms'] + offline['message_build_ms'])
            / pipeline)
    return out


def count_outcomes(statuses: List[StatusRecord]) -> Dict[str, int]:
    """Return how many pairs had each outcome (published, stale, a bad-input reason...)."""
    outcomes: Dict[str, int] = {}
    for record in statuses:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    return outcomes


def stages(record: StatusRecord) -> Dict[str, float]:
    """One published pair's node-side timings (ms), as its StereoStatus gave them."""
    return {'queue_wait': record.queue_wait_ms, 'inference': record.inference_ms,
            'postprocess': record.postprocess_ms, 'end_to_end': record.end_to_end_ms}


def status_summary(statuses: List[StatusRecord]) -> Dict[str, Any]:
    """Outcomes by reason and the published pairs' per-stage p50/p95 (ms)."""
    published = [s for s in statuses if s.outcome == 'published']
    return {'messages': len(statuses), 'by_outcome': count_outcomes(statuses),
            **{f'{stage}_ms': percentiles(stages(s)[stage] for s in published)
               for stage in ('queue_wait', 'inference', 'postprocess', 'end_to_end')}}


def status_deltas(statuses: List[StatusRecord]) -> Dict[str, int]:
    """Return the counters of counter_deltas, counted from the run's StereoStatus messages."""
    outcomes = count_outcomes(statuses)
    taken = sum(outcomes.get(r, 0) for r in ('published', 'stale', 'no_subscribers'))
    return {keys.PAIRS_IN: taken, keys.PAIRS_OUT: outcomes.get('published', 0),
            keys.DROPS_STALE: outcomes.get('stale', 0),
            keys.DROPS_BAD_INPUT: sum(outcomes.values()) - taken,
            keys.SKIPPED_NO_SUBSCRIBERS: outcomes.get('no_subscribers', 0)}


def counter_deltas(before: Dict[str, str], after: Dict[str, str]) -> Dict[str, int]:
    """Return how much each diagnostics counter grew between two reports."""
    counters = (keys.PAIRS_IN, keys.PAIRS_OUT, keys.DROPS_STALE, keys.DROPS_UNSYNCHRONISED,
                keys.DROPS_BAD_INPUT, keys.INFERENCE_ERRORS, keys.SKIPPED_NO_SUBSCRIBERS)
    out = {}
    for key in counters:
        try:
            out[key] = int(after[key]) - int(before.get(key, 0))
        except (KeyError, ValueError):
            continue
    return out
