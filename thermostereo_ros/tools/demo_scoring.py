# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The demo's scores: the node's outputs and SGBM against ground truth, and the summary."""

import json
import math
import pathlib
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from thermostereo_ros.evaluation.metrics import disparity_metrics, MetricAccumulator
from thermostereo_ros.evaluation.report import percentiles
from thermostereo_ros.evaluation.sgbm import fill_invalid_background, SGBMBaseline
from thermostereo_ros.ros import diagnostics as keys
from thermostereo_ros.tools.demo_collector import Collected
from thermostereo_ros.tools.demo_common import (CONDITIONS, OnlineRun, OUTPUTS_BAG,
                                                STRIP_FRAMES_PER_CONDITION, WARM_UP_FRAMES)
from thermostereo_ros.tools.demo_output import (gt_disparity, iter_bag_frames, write_ply,
                                                write_strip)


def _metrics(acc: Any) -> Dict[str, Any]:
    result = acc.result()
    return {k: result[k] for k in ('epe', 'd1', 'bad3', 'frames', 'pixels')}


def evaluate(bags: List[Tuple[pathlib.Path, str, Tuple[int, int]]],
             received: Dict[int, np.ndarray], max_disparity: float
             ) -> Tuple[Dict[str, Any], List[Dict[str, Any]], float]:
    """Score the received disparities and SGBM on the same frames; (metrics, strip rows, ms).

    Both methods are scored densely over every ground-truth pixel: holes (network pixels
    published as invalid, SGBM's unmatched pixels) are filled by the same rule
    (`fill_invalid_background`), and each method's density before filling is reported.
    """
    sgbm = SGBMBaseline(max_disparity=int(max_disparity))
    accs = {(m, c): MetricAccumulator(max_disparity) for m in ('network', 'sgbm')
            for c in CONDITIONS + ('all',)}
    density: Dict[str, List[float]] = {'network': [], 'sgbm': []}
    rows: List[Dict[str, Any]] = []
    sgbm_seconds = 0.0
    for bag, condition, (first, last) in bags:
        stamps = sorted(s for s in received if first <= s <= last)
        picks = {stamps[int(len(stamps) * (k + 1) / (STRIP_FRAMES_PER_CONDITION + 1))]
                 for k in range(STRIP_FRAMES_PER_CONDITION)} if stamps else set()
        index = 0
        for stamp, left, right, depth, camera in iter_bag_frames(bag):
            index += 1
            if stamp not in received:
                continue
            gt = gt_disparity(depth, camera)
            network = received[stamp]
            net_valid = network >= 0
            net_dense = fill_invalid_background(network, net_valid)
            started = time.perf_counter()
            raw = sgbm.compute_raw(left, right) - np.float32(camera.doffs)
            sgbm_seconds += time.perf_counter() - started
            sgbm_valid = raw > 0
            sgbm_dense = fill_invalid_background(raw, sgbm_valid)
            density['network'].append(float(net_valid.mean()))
            density['sgbm'].append(float(sgbm_valid.mean()))
            for c in (condition, 'all'):
                accs[('network', c)].update(net_dense, gt)
                accs[('sgbm', c)].update(sgbm_dense, gt)
            if stamp in picks:
                rows.append(dict(
                    condition=condition, index=index - 1, left=left, right=right, gt=gt,
                    network=net_dense, network_valid=net_valid, sgbm=sgbm_dense,
                    sgbm_valid=sgbm_valid,
                    network_epe=disparity_metrics(net_dense, gt, max_disparity)['epe'],
                    sgbm_epe=disparity_metrics(sgbm_dense, gt, max_disparity)['epe']))
    metrics: Dict[str, Any] = {}
    for method in ('network', 'sgbm'):
        entry = _metrics(accs[(method, 'all')])
        entry['density'] = float(np.mean(density[method])) if density[method] else math.nan
        entry['by_condition'] = {c: _metrics(accs[(method, c)]) for c in CONDITIONS}
        metrics[method] = entry
    frames = len(density['sgbm'])
    return metrics, rows, (1e3 * sgbm_seconds / frames if frames else math.nan)


def _node_figures(data: Collected, diag: Dict[str, str],
                  spans: List[Tuple[int, int]]) -> Dict[str, Any]:
    """Return the node's own account of the run.

    From its typed ~/status and ~/evaluation (msg/), or, where those are not built, from the
    /diagnostics strings.
    """
    def in_bags(stamp: int) -> bool:  # not the warm-up pair
        return any(first <= stamp <= last for first, last in spans)

    statuses = [s for s in data.statuses if in_bags(s.stamp)]
    if statuses:
        reasons: Dict[str, int] = {}
        for record in statuses:
            reasons[record.outcome] = reasons.get(record.outcome, 0) + 1
        taken = sum(reasons.get(r, 0) for r in ('published', 'stale', 'no_subscribers'))
        scored = [e for e in data.evaluations if in_bags(e[0])]
        pixels = sum(e[3] for e in scored)
        return {'source': 'StereoStatus/StereoEvaluation', 'by_outcome': reasons,
                'pairs_in': taken, 'pairs_out': reasons.get('published', 0),
                'stale': reasons.get('stale', 0), 'bad_input': sum(reasons.values()) - taken,
                'valid_fraction_mean': float(np.mean([s.valid_fraction for s in statuses
                                                      if s.outcome == 'published']
                                                     or [math.nan])),
                'inference_ms': percentiles(s.inference_ms for s in statuses
                                            if s.outcome == 'published'),
                'online_eval': {
                    'frames': len(scored),
                    # Pixel-weighted over the run, as evaluation/metrics.py accumulates.
                    'epe_px': sum(e[1] * e[3] for e in scored) / pixels if pixels else math.nan,
                    'd1_percent': sum(e[2] * e[3] for e in scored) / pixels
                    if pixels else math.nan}}
    # The node's counters include the warm-up pair; the demo's figures are the bags' frames.
    pairs_in, pairs_out = (None if v is None else v - WARM_UP_FRAMES for v in (
        _diag_int(diag, keys.PAIRS_IN), _diag_int(diag, keys.PAIRS_OUT)))
    return {'source': '/diagnostics', 'pairs_in': pairs_in, 'pairs_out': pairs_out,
            'stale': _diag_int(diag, keys.DROPS_STALE),
            'bad_input': _diag_int(diag, keys.DROPS_BAD_INPUT),
            'inference_ms': {'p50': _diag_float(diag, keys.latency_key('inference_latency', 50)),
                             'p95': _diag_float(diag, keys.latency_key('inference_latency', 95))},
            'online_eval': {'frames': _diag_int(diag, keys.EVAL_FRAMES),
                            'epe_px': _diag_float(diag, keys.EVAL_EPE),
                            'd1_percent': _diag_float(diag, keys.EVAL_D1)}}


def _diag_float(diag: Dict[str, str], key: str) -> float:
    try:
        return float(diag.get(key, 'nan'))
    except ValueError:
        return math.nan


def _diag_int(diag: Dict[str, str], key: str) -> Optional[int]:
    try:
        return int(diag[key])
    except (KeyError, ValueError):
        return None


def provenance_summary(provenance: Dict[str, Any]) -> Dict[str, Any]:
    """Return `provenance` with its `init` chain cut to the path it started from.

    A fine-tuned checkpoint nests the provenance of every run before it under `init`; the
    console shows the last run only (summary.json keeps the whole chain).
    """
    init = provenance.get('init')
    if isinstance(init, dict):
        return dict(provenance, init=init.get('path'))
    return dict(provenance)


def format_table(summary: Dict[str, Any]) -> str:
    """Format the short human-readable result table."""
    fr, lat, inf = summary['frames'], summary['latency_ms'], summary['node_inference_ms']
    lines = [
        f'model    {summary["model"]["path"]}',
        f'         provenance: {json.dumps(provenance_summary(summary["model"]["provenance"]))}',
        f'frames   in {fr["in"]}  out {fr["out"]}  dropped {fr["dropped"]}  (node stale '
        f'{fr["node_stale"]}, unpaired {fr["unpaired"]}, lost after node {fr["lost_output"]})',
        f'rate     {summary["rate_hz"]:.1f} Hz in, {summary["output_fps"]:.2f} FPS out',
        f'dds      {summary.get("dds", {}).get("dds_profile", "not recorded")}',
        f'status   {summary["node_status"]["by_outcome"] or "no ~/status (msg/ not built)"}; '
        f'mean valid fraction {summary["node_status"]["valid_fraction_mean"]:.3f}',
        f'latency  p50 {lat["p50"]:.1f} ms  p95 {lat["p95"]:.1f} ms (left image published -> '
        f'DisparityImage received); node inference p50 {inf["p50"]:.1f} p95 {inf["p95"]:.1f} ms',
        '',
        f'{"":16}{"EPE px":>8}{"D1 %":>8}{"density":>9}'
        + ''.join(f'{c + " EPE":>11}{c + " D1":>9}' for c in CONDITIONS),
    ]
    for label, key in (('ThermoStereoRT', 'network'), ('SGBM', 'sgbm')):
        m = summary['metrics'][key]
        cells = ''.join(f'{m["by_condition"][c]["epe"]:>11.2f}{m["by_condition"][c]["d1"]:>9.1f}'
                        for c in CONDITIONS)
        lines.append(f'{label:16}{m["epe"]:>8.2f}{m["d1"]:>8.1f}{100 * m["density"]:>8.0f}%'
                     + cells)
    online = summary['node_online_eval']
    lines += [f'node eval_* (raw disparity, {online["frames"]} frames): EPE '
              f'{online["epe_px"]:.2f} px, D1 {online["d1_percent"]:.1f} %',
              f'SGBM {summary["sgbm_ms_per_frame"]:.0f} ms/frame; scored on the '
              f'{fr["out"]} frames the node answered; wall {summary["wall_s"]:.1f} s']
    return '\n'.join(lines)


def summarise(online: OnlineRun, out: pathlib.Path, path: pathlib.Path,
              metadata: Dict[str, Any], max_disparity: int, rate_hz: float,
              threads: int) -> Dict[str, Any]:
    """Score the collected outputs, write the strip, PLY and summary.json; return the summary."""
    data = online.data
    received = data.disparity
    latencies = [1e3 * (data.disparity_time[s] - data.input_time[s])
                 for s in received if s in data.input_time]
    # Output rate while frames flowed: per bag, so the pause between the bags does not count.
    intervals, seconds = 0, 0.0
    for _, _, (first, last) in online.bags:
        times = sorted(t for s, t in data.disparity_time.items() if first <= s <= last)
        if len(times) > 1:
            intervals, seconds = intervals + len(times) - 1, seconds + times[-1] - times[0]
    fps = intervals / seconds if seconds > 0 else math.nan
    diag = data.diagnostics

    t0 = time.monotonic()
    metrics, rows, sgbm_ms = evaluate(online.bags, received, max_disparity)
    files = {}
    if rows:
        write_strip(out / 'disparity_strip.png', rows)
        files['strip'] = 'disparity_strip.png'
    points = None
    if data.cloud is not None:
        points = write_ply(out / 'pointcloud.ply', data.cloud)
        files['pointcloud'] = 'pointcloud.ply'
    if data.recorded:
        files['bag'] = OUTPUTS_BAG
    online.timings['evaluate_s'] = time.monotonic() - t0
    node = _node_figures(data, diag, [span for _, _, span in online.bags])
    published = online.published
    return {
        'model': {'path': str(path), 'arch': metadata.get('arch'),
                  'config': metadata.get('config'), 'provenance': metadata.get('provenance')},
        'data': {'sequences': [{'name': s, 'condition': c} for s, c in online.sequences],
                 'frames_per_sequence': online.frames_per_sequence,
                 'max_disparity': max_disparity},
        'rate_hz': rate_hz,
        'node_threads': threads,
        'frames': {'in': published, 'out': len(received),
                   'dropped': published - len(received),
                   'node_pairs_in': node['pairs_in'], 'node_pairs_out': node['pairs_out'],
                   'node_stale': node['stale'],
                   'unpaired': None if node['pairs_in'] is None
                   else published - node['pairs_in'],
                   'lost_output': None if node['pairs_out'] is None
                   else node['pairs_out'] - len(received),
                   'node_bad_input': node['bad_input']},
        'output_fps': fps,
        'latency_ms': percentiles(latencies),
        'node_inference_ms': node['inference_ms'],
        'node_figures_from': node['source'],
        'metrics': metrics,
        'node_online_eval': node['online_eval'],
        'node_diagnostics': diag,
        'bag_messages': data.recorded,
        # Per frame from msg/StereoStatus: how many pairs were published or dropped, by reason.
        'node_status': {'by_outcome': node.get('by_outcome', {}),
                        'valid_fraction_mean': node.get('valid_fraction_mean', math.nan)},
        'sgbm_ms_per_frame': sgbm_ms,
        'pointcloud_vertices': points,
        'pointcloud_stamp_ns': data.cloud_stamp,
        'files': files,
        'timings': online.timings,
    }
