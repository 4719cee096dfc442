# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The bench's measurements: latency per engine configuration, SGBM, start-up, accuracy.

Latency is wall time of `StereoEngine.infer` (input validation, normalisation, host/device
copies and the CUDA synchronisation included), i.e. what the node pays per pair. Peak memory
per configuration is the process RSS high-water mark, reset before each configuration through
/proc/self/clear_refs where Linux allows it (otherwise the process-lifetime peak), and on CUDA
`torch.cuda.max_memory_allocated` after a reset.
"""

import math
import os
import pathlib
import platform
import resource
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from thermostereo_ros.data.synthetic import CONDITIONS
from thermostereo_ros.evaluation.evaluate import evaluate_split, iter_frames
from thermostereo_ros.evaluation.metrics import DISPARITY_KEYS
from thermostereo_ros.evaluation.report import percentiles
from thermostereo_ros.evaluation.sgbm import SGBMBaseline
from thermostereo_ros.geometry.image_size import Size, size_label
from thermostereo_ros.inference import backends, StereoEngine
from thermostereo_ros.inference.checkpoint import build_from_checkpoint
from thermostereo_ros.inference.cpu_features import cpu_info
from thermostereo_ros.inference.profile import model_cost

BENCH_MAX_DISPARITY = 192
# The CPU backends whose start-up an export cache shortens (bench_startup times them).
CACHED_BACKENDS = tuple(name for name, spec in backends.REGISTRY.items()
                        if spec.caches_exports and 'cpu' in spec.devices)
# Disparity of the synthetic timing pair: the content does not change the cost of a dense
# network or of SGBM, it only has to look like a thermal frame.
_TIMING_SHIFT = 24


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
    info: Dict[str, Any] = {
        'hostname': platform.node(), 'platform': platform.platform(),
        'python': platform.python_version(), 'cpu_model': _cpu_model(),
        'cpu_count': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
        'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
        'load_average': list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
        'torch': torch.__version__, 'cuda_available': torch.cuda.is_available(),
        'numpy': np.__version__,
    }
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
    configs: List[Dict[str, Any]] = []
    if device in ('auto', 'cpu'):
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
    try:  # a probe: TensorRT exists on few machines, and only the GPU bench needs it
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
    plain: List[float] = []
    checked: List[float] = []
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
    engine = StereoEngine.from_checkpoint(checkpoint, device=device, backend='auto',
                                          warmup_size=size)
    sgbm = SGBMBaseline(BENCH_MAX_DISPARITY)
    left, right = pair
    for _ in range(max(0, warmup)):
        engine.infer(left, right)
        sgbm.compute_raw(left, right)
    network: List[float] = []
    baseline: List[float] = []
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
            'ratio_p50': safe_ratio(net['p50_ms'], base['p50_ms']),
            'paired_ratio_p50': float(np.median(np.asarray(network) / np.asarray(baseline)))}


def accuracy(checkpoint: pathlib.Path, pairs: Optional[int], size: Optional[Size],
             device: str) -> Dict[str, Any]:
    """EPE/D1 of the network and of SGBM per held-out condition and over all three."""
    # torch, as before the library's default became the node's: the accuracy rows are the
    # network's, without a backend's precision choice in them.
    engine = StereoEngine.from_checkpoint(checkpoint, backend='torch',
                                          device='cpu' if device == 'cpu' else 'auto')
    methods: Dict[str, Any] = {
        'network': lambda left, right: engine.infer(left, right).disparity,
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
    pixels = sum(p.get('pixels', 0.0) for p in parts)
    out = {'frames': float(sum(p.get('frames', 0.0) for p in parts)), 'pixels': float(pixels)}
    for key in DISPARITY_KEYS:
        out[key] = (sum(p[key] * p['pixels'] for p in parts if p.get('pixels')) / pixels
                    if pixels else math.nan)
    return out


def safe_ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """Return a / b, or None where either is missing or not finite, or b is 0."""
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b == 0:
        return None
    return float(a) / float(b)
