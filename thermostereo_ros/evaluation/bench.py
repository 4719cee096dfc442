# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo bench`: model latency, SGBM latency, accuracy and the node through real DDS.

Writes `<out>/bench.json` and `<out>/bench.md`. The ROS-free parts live here; the node
end-to-end part is passed in by `thermostereo_ros.tools.bench_cli`, the CLI entry.

Latency is wall time of `StereoEngine.infer` (input validation, normalisation, host/device
copies and the CUDA synchronisation included), i.e. what the node pays per pair. Peak memory
per configuration is the process RSS high-water mark, reset before each configuration through
/proc/self/clear_refs where Linux allows it (otherwise the process-lifetime peak), and on CUDA
`torch.cuda.max_memory_allocated` after a reset.
"""

import argparse
import importlib.util
import json
import math
import os
import pathlib
import platform
import resource
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from thermostereo_ros.evaluation import cpu_load
from thermostereo_ros.evaluation.report import json_safe, percentiles
from thermostereo_ros.inference import backends
from thermostereo_ros.geometry.image_size import parse_sizes, Size, size_label
# The node end-to-end part, given by the caller (tools/bench_cli.py): evaluation does not import
# the ROS tools. (args, checkpoint, sizes, out) -> report['node'].
NodeBench = Callable[[argparse.Namespace, pathlib.Path, Sequence[Size], pathlib.Path],
                     Dict[str, Any]]

JSON_NAME = 'bench.json'
MARKDOWN_NAME = 'bench.md'
BENCH_MAX_DISPARITY = 192
# Backends whose exports the export cache keeps (StereoEngine's export_cache_dir).
# The CPU backends whose start-up an export cache shortens (bench_startup times them).
CACHED_BACKENDS = tuple(name for name, spec in backends.REGISTRY.items()
                        if spec.caches_exports and 'cpu' in spec.devices)
# Share of the CPUs taken by other processes above which the report says the run was loaded.
BUSY_WARNING = 0.05
# Disparity of the synthetic timing pair: the content does not change the cost of a dense
# network or of SGBM, it only has to look like a thermal frame.
_TIMING_SHIFT = 24


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the bench options."""
    parser.add_argument('--checkpoint', default=None,
                        help='.safetensors checkpoint (default: the shipped weights)')
    parser.add_argument('--random-weights', action='store_true',
                        help='no checkpoint: time the default architecture with random '
                             'weights (accuracy is then meaningless and is labelled so)')
    parser.add_argument('--sizes', default='640x256,640x512',
                        help='comma-separated WIDTHxHEIGHT input sizes')
    parser.add_argument('--runs', type=int, default=50, help='timed runs per configuration')
    parser.add_argument('--warmup', type=int, default=5, help='untimed runs first')
    parser.add_argument('--interleaved-seconds', type=float, default=20.0,
                        help='the node configuration and SGBM, alternated: keep going this '
                             'long per size (at least --runs rounds), so that slow and fast '
                             'phases of a shared host average out')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto',
                        help='auto: CPU configurations, plus CUDA ones when CUDA is there; '
                             'cpu/cuda: only that device (cuda fails without CUDA)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch/onnxruntime CPU threads (default: OMP_NUM_THREADS or '
                             'torch default)')
    parser.add_argument('--compile', action='store_true',
                        help='also time torch.compile on CUDA (compiling takes minutes)')
    parser.add_argument('--no-tensorrt', action='store_true',
                        help='skip TensorRT even when it is importable')
    parser.add_argument('--out', default='bench_out', help='output folder')
    parser.add_argument('--accuracy-pairs', type=int, default=None,
                        help='held-out pairs per condition (default: the full set; 0 = skip)')
    parser.add_argument('--accuracy-size', default=None,
                        help='WIDTHxHEIGHT of held-out pairs, for smoke runs only '
                             '(default: the held-out size, 640x256)')
    parser.add_argument('--lr-check', action='store_true',
                        help="also time each configuration with the node's lr_check (the "
                             'right view as well), alternating with plain calls, and report '
                             'the cost as a ratio')
    parser.add_argument('--skip-node', action='store_true',
                        help='skip the node end-to-end run through DDS')
    parser.add_argument('--node-rate', type=float, default=10.0, help='input pair rate, Hz')
    parser.add_argument('--node-pairs', type=int, default=100, help='pairs to send')
    parser.add_argument('--node-size', default=None,
                        help='WIDTHxHEIGHT for the node run (default: the first of --sizes)')
    parser.add_argument('--node-precision', default='auto',
                        choices=('auto', 'fp32', 'fp16', 'bf16'))
    parser.add_argument('--node-warmup', action='store_true',
                        help='start the node with warmup_size set to the node size (the '
                             'first output then does not wait for the warm-up)')
    parser.add_argument('--node-export-cache', default=None, metavar='DIR',
                        help="the node keeps its export cache under DIR (its XDG_CACHE_HOME); "
                             'run twice with the same DIR to time a restart\'s first output '
                             '(default: export cache off, a first start)')
    parser.add_argument('--dds-profile', choices=('large-shm', 'default'), default='large-shm',
                        help='large-shm: Fast DDS with a 32 MiB shared-memory segment (the '
                             'default 512 KiB one drops best-effort 640x512 mono16 images); '
                             'default: the middleware defaults')
    parser.add_argument('--node-profile', type=int, default=0, metavar='PAIRS',
                        help='also run the node under cProfile for this many pairs and '
                             'record the hottest functions (0 = no profile run)')


def summarize_ms(times_ms: Sequence[float]) -> Dict[str, float]:
    """p50/p95/mean/min/max (ms) and the count of a list of latencies."""
    values = np.asarray(times_ms, dtype=np.float64)
    summary = {'n': int(values.size),
               **{f'{k}_ms': v for k, v in percentiles(values.tolist()).items()}}
    if values.size == 0:
        return {**summary, 'mean_ms': math.nan, 'min_ms': math.nan, 'max_ms': math.nan}
    return {**summary, 'mean_ms': float(values.mean()), 'min_ms': float(values.min()),
            'max_ms': float(values.max())}


def time_calls(fn: Callable[[], Any], runs: int, warmup: int) -> Dict[str, float]:
    """Call `fn` `warmup` times untimed, then `runs` times timed; summary in ms."""
    for _ in range(max(0, warmup)):
        fn()
    times = []
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return summarize_ms(times)


# Memory ---------------------------------------------------------------------------------------

def _status_kb(key: str) -> Optional[float]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the RSS high-water mark to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak RSS in MiB since the last reset (VmHWM), else since the process started."""
    kb = _status_kb('VmHWM')
    if kb is None:
        kb = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
    return kb / 1024.0


# Machine --------------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> Dict[str, Any]:
    """CPU, threads, GPU and library versions of this run."""
    import torch

    info: Dict[str, Any] = {
        'hostname': platform.node(), 'platform': platform.platform(),
        'python': platform.python_version(), 'cpu_model': _cpu_model(),
        'cpu_count': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
        'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
        'load_average': list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
        'torch': torch.__version__, 'cuda_available': torch.cuda.is_available(),
        'numpy': np.__version__,
    }
    from thermostereo_ros.inference.cpu_features import cpu_info
    cpu = cpu_info().summary()
    # The flags that decide CPU precision (AMX, AVX512_BF16, AVX512_VNNI) and what auto
    # chooses for the shipped architecture on the CPU backend auto picks.
    auto = backends.plan('cpu', 'auto', 'auto', arch='thermostereo_rt')
    info.update(cpu_flags=cpu['flags'], cpu_native_bf16=cpu['native_bf16'],
                cpu_auto_backend=auto.backend, cpu_auto_precision=auto.precision)
    for name, module in (('onnxruntime', 'onnxruntime'), ('openvino', 'openvino'),
                         ('opencv', 'cv2'), ('tensorrt', 'tensorrt')):
        try:
            info[name] = __import__(module).__version__
        except Exception:  # absent or broken: recorded as missing, not fatal
            info[name] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu_name=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                    cuda_runtime=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


# Model latency --------------------------------------------------------------------------------

def engine_configs(device: str, compile_: bool, tensorrt: bool) -> List[Dict[str, Any]]:
    """Return the (label, StereoEngine kwargs) combinations to time for a --device choice."""
    import torch

    configs = []
    if device in ('auto', 'cpu'):
        from thermostereo_ros.inference.cpu_features import cpu_info
        # Every installed CPU backend at each precision it runs there; emulated bf16 is
        # slower than fp32, so bf16 only where the CPU computes it natively.
        native_bf16 = cpu_info().native_bf16
        configs += [dict(label=f'{name} {precision} cpu', backend=name, device='cpu',
                         precision=precision)
                    for name, spec in backends.REGISTRY.items()
                    if 'cpu' in spec.devices and spec.installed()
                    for precision in spec.precisions['cpu']
                    if precision != 'bf16' or native_bf16]
    if device == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda: torch.cuda.is_available() is False here')
    if device in ('auto', 'cuda') and torch.cuda.is_available():
        configs += [
            dict(label='torch fp32 cuda', backend='torch', device='cuda'),
            dict(label='torch fp16 cuda', backend='torch', device='cuda', precision='fp16'),
            dict(label='torch fp16 cuda graphs', backend='torch', device='cuda',
                 precision='fp16', cuda_graphs=True),
        ]
        if compile_:
            configs.append(dict(label='torch fp16 cuda compile', backend='torch',
                                device='cuda', precision='fp16', compile=True))
        if tensorrt:
            configs.append(dict(label='tensorrt fp16 cuda', backend='tensorrt', device='cuda',
                                precision='fp16'))
    return configs


def tensorrt_importable() -> Tuple[bool, str]:
    """Whether `import tensorrt` works, and why not."""
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install raising anything
        return False, f'import tensorrt failed: {exc}'
    return True, ''


def bench_engine(checkpoint: pathlib.Path, config: Dict[str, Any], size: Size, runs: int,
                 warmup: int, pair: Tuple[np.ndarray, np.ndarray],
                 lr_check: bool = False) -> Dict[str, Any]:
    """Build one engine configuration, warm it up at `size` and time `infer` on `pair`.

    lr_check: also `lr_check`, the p50 of infer_left_right and its median ratio to the infer
    call made just before it (paired, so that both see the same host).
    """
    import torch

    from thermostereo_ros.inference import StereoEngine

    kwargs = {k: v for k, v in config.items() if k != 'label'}
    cuda = kwargs.get('device', 'cpu').startswith('cuda')
    reset_peak_rss()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    # warmup_size makes graph capture / engine build / lazy export happen here, not timed.
    engine = StereoEngine.from_checkpoint(checkpoint, warmup_size=size, **kwargs)
    setup_s = time.perf_counter() - started
    left, right = pair
    result = dict(label=config['label'], size=size_label(size), setup_s=setup_s,
                  **time_calls(lambda: engine.infer(left, right), runs, warmup))
    result['peak_rss_mb'] = peak_rss_mb()
    if lr_check:
        result['lr_check'] = _paired_lr_check(engine, left, right, runs, warmup)
    if cuda:
        result['cuda_max_allocated_mb'] = torch.cuda.max_memory_allocated() / 2 ** 20
    return result


def _paired_lr_check(engine: Any, left: np.ndarray, right: np.ndarray, runs: int,
                     warmup: int) -> Dict[str, float]:
    for _ in range(warmup):
        engine.infer_left_right(left, right)
    plain, checked = [], []
    for _ in range(runs):
        for call, times in ((engine.infer, plain), (engine.infer_left_right, checked)):
            started = time.perf_counter()
            call(left, right)
            times.append((time.perf_counter() - started) * 1e3)
    return {'p50_ms': float(np.median(checked)), 'plain_p50_ms': float(np.median(plain)),
            'paired_ratio_p50': float(np.median(np.divide(checked, plain)))}


def bench_startup(checkpoint: pathlib.Path, config: Dict[str, Any], size: Size,
                  pair: Tuple[np.ndarray, np.ndarray]) -> Dict[str, Any]:
    """Load-to-first-output seconds with an empty export cache, then again with it filled.

    What a node pays before its first output without warmup_size: the export and compilation
    on a first start, what the export cache leaves of them on a restart. torch's import is in
    neither (the process has it already).
    """
    from thermostereo_ros.inference import StereoEngine

    kwargs = {k: v for k, v in config.items() if k != 'label'}
    left, right = pair
    result: Dict[str, Any] = dict(label=config['label'], size=size_label(size))
    with tempfile.TemporaryDirectory(prefix='thermostereo_bench_cache_') as cache:
        for key in ('empty_cache_s', 'filled_cache_s'):
            started = time.perf_counter()
            engine = StereoEngine.from_checkpoint(checkpoint, export_cache_dir=cache, **kwargs)
            engine.infer(left, right)
            result[key] = time.perf_counter() - started
            del engine
    return result


def model_costs(checkpoint: pathlib.Path, sizes: Sequence[Size]) -> Dict[str, Any]:
    """Parameters and GFLOPs per size (thermostereo_ros.inference.profile.model_cost)."""
    from thermostereo_ros.inference.checkpoint import build_from_checkpoint
    from thermostereo_ros.inference.profile import model_cost

    model, metadata = build_from_checkpoint(checkpoint, 'cpu')
    model.eval()
    out: Dict[str, Any] = {'arch': metadata.get('arch'),
                           'max_disparity': int(metadata['config']['max_disparity']),
                           'gflops': {}}
    for size in sizes:
        cost = model_cost(model, *size)
        out['params'] = cost['params']
        out['gflops'][size_label(size)] = cost['gflops']
    return out


# SGBM and accuracy ----------------------------------------------------------------------------

def bench_sgbm(size: Size, runs: int, warmup: int,
               pair: Tuple[np.ndarray, np.ndarray]) -> List[Dict[str, Any]]:
    """Time OpenCV SGBM (stereo_image_proc parameters): raw matcher, and with hole filling."""
    from thermostereo_ros.evaluation.sgbm import SGBMBaseline

    sgbm = SGBMBaseline(BENCH_MAX_DISPARITY)
    left, right = pair
    rows = []
    for label, fn in (('sgbm cpu (stereo_image_proc)', sgbm.compute_raw),
                      ('sgbm cpu + hole filling (evaluated)', sgbm.compute)):
        reset_peak_rss()
        row = dict(label=label, size=size_label(size),
                   **time_calls(lambda: fn(left, right), runs, warmup))
        row['peak_rss_mb'] = peak_rss_mb()
        rows.append(row)
    return rows


def bench_interleaved(checkpoint: pathlib.Path, device: str, size: Size, runs: int,
                      warmup: int, pair: Tuple[np.ndarray, np.ndarray],
                      seconds: float = 0.0) -> Dict[str, Any]:
    """Time the node's default configuration (backend, precision auto) and raw SGBM in turn.

    One network call, one SGBM call, and again, for `runs` rounds and at least `seconds`:
    back-to-back blocks of runs see different phases of a shared host (a VM's neighbours slow
    one vCPU for seconds at a time, docs/history/PERFORMANCE_NOTEBOOK.md stretch 11),
    alternation shows both the same phases and a long window averages them.
    `paired_ratio_p50` is the median of the per-round ratios.
    """
    from thermostereo_ros.evaluation.sgbm import SGBMBaseline
    from thermostereo_ros.inference import StereoEngine

    engine = StereoEngine.from_checkpoint(checkpoint, device=device, backend='auto',
                                          warmup_size=size)
    sgbm = SGBMBaseline(BENCH_MAX_DISPARITY)
    left, right = pair
    for _ in range(max(0, warmup)):
        engine.infer(left, right)
        sgbm.compute_raw(left, right)
    network, baseline = [], []
    started = time.perf_counter()
    while len(network) < max(1, runs) or time.perf_counter() - started < seconds:
        for fn, times in ((lambda: engine.infer(left, right), network),
                          (lambda: sgbm.compute_raw(left, right), baseline)):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
    net, base = summarize_ms(network), summarize_ms(baseline)
    return {'label': f'auto ({engine.backend} {engine.precision} {engine.device})',
            'size': size_label(size), 'seconds': time.perf_counter() - started,
            'network': net, 'sgbm': base,
            'ratio_p50': _ratio(net['p50_ms'], base['p50_ms']),
            'paired_ratio_p50': float(np.median(np.asarray(network) / np.asarray(baseline)))}


def accuracy(checkpoint: pathlib.Path, pairs: Optional[int], size: Optional[Size],
             device: str) -> Dict[str, Any]:
    """EPE/D1 of the network and of SGBM per held-out condition and over all three."""
    from thermostereo_ros.data.synthetic import CONDITIONS
    from thermostereo_ros.evaluation.evaluate import evaluate_split, iter_frames
    from thermostereo_ros.evaluation.sgbm import SGBMBaseline
    from thermostereo_ros.inference import StereoEngine

    engine = StereoEngine.from_checkpoint(checkpoint,
                                          device='cpu' if device == 'cpu' else 'auto')
    methods = {'network': lambda left, right: engine.infer(left, right).disparity,
               'sgbm': SGBMBaseline(BENCH_MAX_DISPARITY).compute}
    per_condition = {}
    for condition in CONDITIONS:
        frames = iter_frames('synthetic', None, f'heldout_{condition}', pairs,
                             BENCH_MAX_DISPARITY, size)
        per_condition[condition] = evaluate_split(methods, frames, BENCH_MAX_DISPARITY)
    overall = {name: merge_disparity_metrics([r[name] for r in per_condition.values()])
               for name in methods}
    return {'pairs_per_condition': pairs, 'size': size_label(size) if size else None,
            'engine_device': engine.device, 'conditions': per_condition, 'all': overall}


def merge_disparity_metrics(parts: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """Pixel-weighted union of per-split disparity metrics (= evaluating all frames at once).

    Saves rendering and running the held-out set twice for the all-conditions row.
    """
    from thermostereo_ros.evaluation.metrics import DISPARITY_KEYS

    pixels = sum(p.get('pixels', 0.0) for p in parts)
    out = {'frames': float(sum(p.get('frames', 0.0) for p in parts)), 'pixels': float(pixels)}
    for key in DISPARITY_KEYS:
        out[key] = (sum(p[key] * p['pixels'] for p in parts if p.get('pixels')) / pixels
                    if pixels else math.nan)
    return out


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b == 0:
        return None
    return float(a) / float(b)


def compute_ratios(latency: List[Dict[str, Any]], sgbm: List[Dict[str, Any]],
                   acc: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Network vs SGBM: latency ratio per configuration and size, EPE and D1 ratios.

    A ratio below 1 means the network is faster / more accurate than SGBM.
    """
    raw_sgbm = {r['size']: r['p50_ms'] for r in sgbm if 'hole' not in r['label']}
    ratios: Dict[str, Any] = {'latency_p50_network_over_sgbm': {}}
    for row in latency:
        ratio = _ratio(row.get('p50_ms'), raw_sgbm.get(row['size']))
        ratios['latency_p50_network_over_sgbm'][f"{row['label']} @ {row['size']}"] = ratio
    if acc:
        for scope, results in [('all', acc.get('all') or {})] + list(
                (c, r) for c, r in acc['conditions'].items()):
            net, base = results.get('network', {}), results.get('sgbm', {})
            ratios[f'epe_network_over_sgbm_{scope}'] = _ratio(net.get('epe'), base.get('epe'))
            ratios[f'd1_network_over_sgbm_{scope}'] = _ratio(net.get('d1'), base.get('d1'))
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
    for skipped in report.get('skipped', []):
        lines.append(f'\nSkipped: {skipped}')
    if report.get('startup'):
        lines += ['', '## Start-up: load to first output (no warmup_size)', '',
                  '| configuration | size | export cache empty s | export cache filled s |',
                  '|---|---|---|---|']
        lines += [f"| {r['label']} | {r['size']} | {_fmt(r['empty_cache_s'])} | "
                  f"{_fmt(r['filled_cache_s'])} |" for r in report['startup']]
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
    lines.append('')
    return '\n'.join(lines)


# Driver ---------------------------------------------------------------------------------------

def _resolve_checkpoint(args: argparse.Namespace, out: pathlib.Path) -> Tuple[pathlib.Path, str]:
    from thermostereo_ros.inference import CheckpointError
    from thermostereo_ros.inference.engine import resolve_checkpoint

    try:
        return resolve_checkpoint(args.checkpoint), \
            'checkpoint' if args.checkpoint else 'shipped default weights'
    except CheckpointError:
        if not args.random_weights:
            raise
    import torch

    from thermostereo_ros.inference import save_checkpoint
    from thermostereo_ros.model import build_model

    # Timing only depends on the architecture, so untrained default-architecture weights give
    # representative latency; the report marks them so accuracy is never read as real.
    torch.manual_seed(0)
    model = build_model('thermostereo_rt', {'max_disparity': BENCH_MAX_DISPARITY})
    path = save_checkpoint(out / 'random_weights.safetensors', model, 'thermostereo_rt',
                           model.config, {'mode': 'joint', 'low': 1, 'high': 99},
                           {'purpose': 'random weights for thermostereo bench timing'})
    return path, 'RANDOM weights (timing only; accuracy meaningless)'


def run_bench(args: argparse.Namespace, node_bench: Optional[NodeBench] = None) -> Dict[str, Any]:
    """Run every enabled part and return the report (also written to --out)."""
    import torch

    from thermostereo_ros.inference.shifted_texture import synthetic_pair

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ['OMP_NUM_THREADS'] = str(args.threads)  # onnxruntime and the node follow it
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = parse_sizes(args.sizes)
    checkpoint, weights = _resolve_checkpoint(args, out)
    report: Dict[str, Any] = {
        'created_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'checkpoint': str(checkpoint), 'weights': weights, 'machine': machine_info(),
        'settings': {'sizes': [size_label(s) for s in sizes], 'runs': args.runs,
                     'warmup': args.warmup, 'device': args.device,
                     'max_disparity': BENCH_MAX_DISPARITY},
        'latency': [], 'sgbm': [], 'interleaved': [], 'startup': [], 'skipped': [],
        'errors': []}
    report['model'] = model_costs(checkpoint, sizes)
    if report['model']['max_disparity'] != BENCH_MAX_DISPARITY:
        # The network's cost volume depends on it, so such numbers are not comparable.
        report['skipped'].append(
            f"note: the checkpoint's max_disparity is {report['model']['max_disparity']}, "
            f'not the benchmark setting {BENCH_MAX_DISPARITY}; its numbers are its own')
    trt_ok, trt_why = tensorrt_importable()
    configs = engine_configs(args.device, args.compile, trt_ok and not args.no_tensorrt)
    if torch.cuda.is_available() and args.device != 'cpu' and not trt_ok:
        report['skipped'].append(f'tensorrt: {trt_why}')
    # A GPU machine may lack OpenCV: the network numbers are still worth having.
    have_cv2 = importlib.util.find_spec('cv2') is not None
    if not have_cv2:
        report['skipped'].append('sgbm and accuracy: OpenCV (cv2) is not importable here')
    load_start = cpu_load.sample()
    for size in sizes:
        pair = synthetic_pair(size[0], size[1], _TIMING_SHIFT)
        for config in configs:
            print(f"bench: {config['label']} at {size_label(size)} ...", flush=True)
            try:
                row = bench_engine(checkpoint, config, size, args.runs, args.warmup, pair,
                                   getattr(args, 'lr_check', False))
            except Exception as exc:  # one failing backend must not lose the other numbers
                report['errors'].append(f"{config['label']} @ {size_label(size)}: "
                                        f'{type(exc).__name__}: {exc}')
                print(f'bench:   failed: {exc}', flush=True)
                continue
            report['latency'].append(row)
            print(f"bench:   p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms", flush=True)
            if size == sizes[0] and config.get('backend') in CACHED_BACKENDS:
                try:
                    report['startup'].append(bench_startup(checkpoint, config, size, pair))
                except Exception as exc:  # as above: report it, keep the other numbers
                    report['errors'].append(f"start-up {config['label']}: "
                                            f'{type(exc).__name__}: {exc}')
        if not have_cv2:
            continue
        try:
            report['sgbm'] += bench_sgbm(size, args.runs, args.warmup, pair)
        except Exception as exc:  # e.g. OpenCV refusing images narrower than the search
            report['errors'].append(f'sgbm @ {size_label(size)}: {type(exc).__name__}: {exc}')
        else:
            print(f'bench: auto and SGBM interleaved at {size_label(size)} ...', flush=True)
            try:
                report['interleaved'].append(bench_interleaved(
                    checkpoint, 'cpu' if args.device == 'cpu' else 'auto', size, args.runs,
                    args.warmup, pair, args.interleaved_seconds))
            except Exception as exc:  # as above: report it, keep the other numbers
                report['errors'].append(f'interleaved @ {size_label(size)}: '
                                        f'{type(exc).__name__}: {exc}')
        _write(report, out)  # partial results survive a time limit on later parts
    load_end = cpu_load.sample()
    if load_start is not None and load_end is not None:
        report['machine']['others_cpu_share'] = cpu_load.others_share(
            load_start, load_end, os.cpu_count() or 1)
    acc = None
    if have_cv2 and (args.accuracy_pairs is None or args.accuracy_pairs > 0):
        print('bench: accuracy on the held-out set ...', flush=True)
        acc_size = parse_sizes(args.accuracy_size)[0] if args.accuracy_size else None
        acc = accuracy(checkpoint, args.accuracy_pairs, acc_size, args.device)
        report['accuracy'] = acc
    report['ratios'] = compute_ratios(report['latency'], report['sgbm'], acc)
    report['summary'] = _summary(report, sizes)
    _write(report, out)
    if not args.skip_node and node_bench is not None:
        try:
            report['node'] = node_bench(args, checkpoint, sizes, out)
        except Exception as exc:  # the node failing to start is a result, not a crash
            report['node'] = {'error': f'{type(exc).__name__}: {exc}'}
            report['errors'].append(f"node: {report['node']['error']}")
    _write(report, out)
    return report


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
    out['latency_ratio'] = _ratio(out.get('network_p50_ms'), out.get('sgbm_p50_ms'))
    paired = [r for r in report.get('interleaved', []) if r['size'] == size]
    if paired:
        out.update(interleaved_config=paired[0]['label'],
                   interleaved_ratio=paired[0]['ratio_p50'],
                   interleaved_paired_ratio=paired[0]['paired_ratio_p50'])
    return out


def _write(report: Dict[str, Any], out: pathlib.Path) -> None:
    (out / JSON_NAME).write_text(json.dumps(json_safe(report), indent=2) + '\n')
    (out / MARKDOWN_NAME).write_text(markdown_report(report))


def run(args: argparse.Namespace, node_bench: Optional[NodeBench] = None) -> int:
    """Run the benchmark, print the markdown summary; 1 if a part failed."""
    from thermostereo_ros.inference import CheckpointError

    try:
        report = run_bench(args, node_bench)
    except (CheckpointError, ValueError, RuntimeError) as exc:
        print(f'thermostereo bench: error: {exc}')
        return 2
    print(markdown_report(report))
    print(f'wrote {pathlib.Path(args.out) / JSON_NAME} and {MARKDOWN_NAME}')
    for error in report['errors']:
        print(f'error: {error}')
    return 1 if report['errors'] else 0
