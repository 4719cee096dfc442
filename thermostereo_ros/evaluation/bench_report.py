# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The bench's report: ratios against SGBM, the summary and bench.md."""

import math
from typing import Any, Dict, List, Optional, Sequence

from thermostereo_ros.evaluation.bench_measure import BENCH_MAX_DISPARITY, safe_ratio
from thermostereo_ros.geometry.image_size import Size, size_label

# Share of the CPUs taken by other processes above which the report says the run was loaded.
BUSY_WARNING = 0.05


def compute_ratios(latency: List[Dict[str, Any]], sgbm: List[Dict[str, Any]],
                   acc: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Network vs SGBM: latency ratio per configuration and size, EPE and D1 ratios.

    A ratio below 1 means the network is faster / more accurate than SGBM.
    """
    raw_sgbm = {r['size']: r['p50_ms'] for r in sgbm if 'hole' not in r['label']}
    ratios: Dict[str, Any] = {'latency_p50_network_over_sgbm': {}}
    for row in latency:
        ratios['latency_p50_network_over_sgbm'][f"{row['label']} @ {row['size']}"] = \
            safe_ratio(row.get('p50_ms'), raw_sgbm.get(row['size']))
    if acc:
        for scope, results in [('all', acc.get('all') or {})] + list(
                (c, r) for c, r in acc['conditions'].items()):
            net, base = results.get('network', {}), results.get('sgbm', {})
            ratios[f'epe_network_over_sgbm_{scope}'] = safe_ratio(net.get('epe'), base.get('epe'))
            ratios[f'd1_network_over_sgbm_{scope}'] = safe_ratio(net.get('d1'), base.get('d1'))
    return ratios


# Report ---------------------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '-'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def markdown_report(report: Dict[str, Any]) -> str:
    """Render the human-readable summary written to bench.md."""
    lines = (_header_lines(report) + _latency_lines(report) + _interleaved_lines(report)
             + _lr_check_lines(report))
    for skipped in report.get('skipped', []):
        lines.append(f'\nSkipped: {skipped}')
    lines += _startup_lines(report) + _accuracy_lines(report) + _node_lines(report)
    lines.append('')
    return '\n'.join(lines)


def _header_lines(report: Dict[str, Any]) -> List[str]:
    """Return the title, machine, CPU load and model."""
    lines: List[str] = []
    m = report['machine']
    lines = [f"# thermostereo bench ({report['created_utc']})", '',
             f"Checkpoint: `{report['checkpoint']}` ({report['weights']})", '',
             f"Machine: {m.get('cpu_model')}, {m.get('cpu_count')} CPUs, torch threads "
             f"{m.get('torch_threads')}, load average {m.get('load_average')}; GPU: "
             f"{m.get('gpu_name', 'none')}; torch {m.get('torch')}, onnxruntime "
             f"{m.get('onnxruntime')}, OpenVINO {m.get('openvino')}, OpenCV {m.get('opencv')}, "
             f"TensorRT {m.get('tensorrt')}",
             '', f"CPU flags: {', '.join(m.get('cpu_flags') or []) or 'none of interest'}; "
             f"native bf16: {m.get('cpu_native_bf16')}; auto on this CPU: backend "
             f"{m.get('cpu_auto_backend')}, precision {m.get('cpu_auto_precision')}", '']
    share = m.get('others_cpu_share')
    if share is not None:
        lines += [f'Other processes used {100 * share:.0f} % of the CPUs while the latencies '
                  f'were measured' + (f' (over {100 * BUSY_WARNING:.0f} %: these latencies and '
                                      f'ratios are not comparable; rerun on an idle machine)'
                                      if share > BUSY_WARNING else '') + '.', '']
    cost = report.get('model') or {}
    if cost:
        gflops = ', '.join(f'{k}: {v:.2f}' for k, v in cost.get('gflops', {}).items())
        lines += [f"Model: {cost.get('arch')}, {cost.get('params', 0) / 1e6:.3f} M params, "
                  f'GFLOPs per pair ({gflops}), max disparity {BENCH_MAX_DISPARITY}', '']
    return lines


def _latency_lines(report: Dict[str, Any]) -> List[str]:
    """Return the latency table, network and SGBM."""
    lines: List[str] = []
    lines += ['## Latency', '',
              '| configuration | size | p50 ms | p95 ms | runs | peak RSS MiB | '
              'CUDA max alloc MiB | vs SGBM p50 |', '|---|---|---|---|---|---|---|---|']
    ratios = report.get('ratios', {}).get('latency_p50_network_over_sgbm', {})
    for row in report['latency'] + report['sgbm']:
        ratio = ratios.get(f"{row['label']} @ {row['size']}")
        lines.append(f"| {row['label']} | {row['size']} | {_fmt(row['p50_ms'])} | "
                     f"{_fmt(row['p95_ms'])} | {row['n']} | {_fmt(row.get('peak_rss_mb'), 0)} | "
                     f"{_fmt(row.get('cuda_max_allocated_mb'), 0)} | "
                     f"{_fmt(ratio) + 'x' if ratio else '-'} |")
    return lines


def _interleaved_lines(report: Dict[str, Any]) -> List[str]:
    """Return the interleaved ratio of the node's configuration to SGBM."""
    lines: List[str] = []
    if report.get('interleaved'):
        lines += ['', "## The node's configuration and SGBM, interleaved", '',
                  'One call of each in turn, so that both see the same host (the ratio the '
                  'speed target is judged on).', '',
                  '| configuration | size | rounds | network p50 ms | SGBM p50 ms | '
                  'ratio of p50s | median paired ratio |', '|---|---|---|---|---|---|---|']
        lines += [f"| {r['label']} | {r['size']} | {r['network']['n']} | "
                  f"{_fmt(r['network']['p50_ms'])} | "
                  f"{_fmt(r['sgbm']['p50_ms'])} | {_fmt(r['ratio_p50'])}x | "
                  f"{_fmt(r['paired_ratio_p50'])}x |" for r in report['interleaved']]
    return lines


def _lr_check_lines(report: Dict[str, Any]) -> List[str]:
    """Return lr_check's cost per configuration."""
    lines: List[str] = []
    checked = [r for r in report['latency'] if r.get('lr_check')]
    if checked:
        lines += ['', '## lr_check: the left-right check\'s cost', '',
                  'Each call with the check follows a plain call; the ratio is the median of '
                  'those pairs.', '',
                  '| configuration | size | plain p50 ms | lr_check p50 ms | '
                  'median paired ratio |',
                  '|---|---|---|---|---|']
        lines += [f"| {r['label']} | {r['size']} | {_fmt(r['lr_check']['plain_p50_ms'])} | "
                  f"{_fmt(r['lr_check']['p50_ms'])} | "
                  f"{_fmt(r['lr_check']['paired_ratio_p50'])}x |" for r in checked]
    return lines


def _startup_lines(report: Dict[str, Any]) -> List[str]:
    """Return start-up with the export cache empty and filled."""
    lines: List[str] = []
    if report.get('startup'):
        lines += ['', '## Start-up: load to first output (no warmup_size)', '',
                  '| configuration | size | export cache empty s | export cache filled s |',
                  '|---|---|---|---|']
        lines += [f"| {r['label']} | {r['size']} | {_fmt(r['empty_cache_s'])} | "
                  f"{_fmt(r['filled_cache_s'])} |" for r in report['startup']]
    return lines


def _accuracy_lines(report: Dict[str, Any]) -> List[str]:
    """Return speed and accuracy on the held-out set."""
    lines: List[str] = []
    acc = report.get('accuracy')
    if acc:
        lines += ['', f"## Speed x accuracy (held-out synthetic, "
                  f"{acc['pairs_per_condition'] or 'all'} pairs per condition"
                  f"{', size ' + acc['size'] if acc['size'] else ''})", '',
                  '| method | p50 ms | scope | EPE px | D1 % | EPE ratio | D1 ratio |',
                  '|---|---|---|---|---|---|---|']
        fastest = report.get('summary', {})
        for scope, results in [('all', acc['all'])] + list(acc['conditions'].items()):
            for method in ('network', 'sgbm'):
                r = results.get(method, {})
                is_net = method == 'network'
                lines.append(
                    f"| {method} | {_fmt(fastest.get(method + '_p50_ms'))} | {scope} | "
                    f"{_fmt(r.get('epe'), 3)} | {_fmt(r.get('d1'), 2)} | "
                    f"{_fmt(report['ratios'].get('epe_network_over_sgbm_' + scope)) if is_net else '1'} | "  # noqa: E501
                    f"{_fmt(report['ratios'].get('d1_network_over_sgbm_' + scope)) if is_net else '1'} |")  # noqa: E501
        lines += ['', f"p50 ms: {fastest.get('note', '')}"]
    return lines


def _node_lines(report: Dict[str, Any]) -> List[str]:
    """Return the node end to end over DDS."""
    lines: List[str] = []
    node = report.get('node')
    if node:
        lines += ['', '## Node end to end (real DDS)', '']
        if node.get('skipped') or node.get('error'):
            lines.append(f"Skipped: {node['skipped']}" if node.get('skipped')
                         else f"Failed: {node['error']}")
        else:
            from_node = node.get('node_diagnostics', {})
            lines += [
                f"{node['size']} at {node['rate_hz']} Hz, {node['sent']} pairs sent, device "
                f"{from_node.get('device', '?')} ({from_node.get('precision', '?')}), DDS: "
                f"{node.get('dds_profile')}", '',
                '| topic | delivered | delivered rate Hz | drops | latency p50 ms | '
                'latency p95 ms |', '|---|---|---|---|---|---|']
            for topic in ('disparity', 'points2'):
                t = node['topics'][topic]
                lines.append(f"| {topic} | {t['delivered']} | {_fmt(t['rate_hz'])} | "
                             f"{t['drops']} | {_fmt(t['latency']['p50_ms'])} | "
                             f"{_fmt(t['latency']['p95_ms'])} |")
            steady = node['topics']['disparity']['latency']['p50_ms']
            first = node.get('first_output_ms')
            own = node.get('first_output_latency_ms')
            lines += ['', f"First output {_fmt(first)} ms after the first pair was sent "
                      f"({_fmt(first / steady) if first and steady else '-'}x the steady p50; "
                      f"warmup_size {node.get('warmup_size') or 'not set'}; export cache "
                      f"{node.get('export_cache', 'off')})."]
            if own is not None:
                lines[-1] += (f" It answered pair {node['pairs_before_first_output'] + 1} of "
                              f"those sent, {_fmt(own)} ms after that pair "
                              f"({_fmt(own / steady) if steady else '-'}x).")
            stages, status = node.get('first_output_stages_ms'), node.get('node_status', {})
            if stages:
                lines[-1] += ' In the node, that pair against the steady p50: ' + ', '.join(
                    f"{stage} {_fmt(ms)} / {_fmt(status.get(stage + '_ms', {}).get('p50'))} ms"
                    for stage, ms in stages.items()) + '.'
            lines += ['', 'Share of the node pipeline (p50):', '']
            for key, value in node.get('breakdown', {}).items():
                lines.append(f'- {key}: {_fmt(value) if isinstance(value, float) else value}')
            if node.get('profile_top'):
                lines += ['', 'Hottest node functions (cProfile, cumulative s):', '']
                for entry in node['profile_top']:
                    lines.append(f"- {entry['function']}: {entry['cumulative_s']:.3f} s "
                                 f"({entry['calls']} calls)")
    return lines


def _summary(report: Dict[str, Any], sizes: Sequence[Size]) -> Dict[str, Any]:
    # Speed x accuracy on one line: the fastest network configuration at the first (or
    # held-out) size against raw SGBM at the same size.
    size = size_label(sizes[0])
    nets = [r for r in report['latency'] if r['size'] == size]
    sgbm = [r for r in report['sgbm'] if r['size'] == size and 'hole' not in r['label']]
    out: Dict[str, Any] = {}
    if nets:
        best = min(nets, key=lambda r: r['p50_ms'])
        out.update(network_p50_ms=best['p50_ms'], network_config=best['label'])
    if sgbm:
        out['sgbm_p50_ms'] = sgbm[0]['p50_ms']
    out['note'] = (f"fastest network configuration ({out.get('network_config', '-')}) and raw "
                   f'SGBM at {size}')
    out['latency_ratio'] = safe_ratio(out.get('network_p50_ms'), out.get('sgbm_p50_ms'))
    paired = [r for r in report.get('interleaved', []) if r['size'] == size]
    if paired:
        out.update(interleaved_config=paired[0]['label'],
                   interleaved_ratio=paired[0]['ratio_p50'],
                   interleaved_paired_ratio=paired[0]['paired_ratio_p50'])
    return out
