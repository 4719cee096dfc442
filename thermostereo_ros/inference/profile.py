# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Quick model profile: parameters, GFLOPs and CPU latency (torch and onnxruntime).

Run: python -m thermostereo_ros.inference.profile [--config JSON] [--threads 2]. It is one
short measurement (a few iterations after warm-up), not a benchmark suite.
"""

import argparse
import json
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import onnxruntime as ort
import torch
from torch.utils.flop_counter import FlopCounterMode

from thermostereo_ros.inference.onnx_io import export_onnx
from thermostereo_ros.model import build_model


def _median_ms(fn: Callable[[], Any], iters: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times)[len(times) // 2]


def model_cost(model: Any, height: int, width: int) -> Dict[str, float]:
    """Return params and GFLOPs (2 per multiply-add) of one forward pass at height x width."""
    device = next(model.parameters()).device
    pair = (torch.rand(1, 1, height, width, device=device),
            torch.rand(1, 1, height, width, device=device))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*pair)
    return {'params': float(sum(p.numel() for p in model.parameters())),
            'gflops': counter.get_total_flops() / 1e9}


def profile(arch: str = 'thermostereo_rt', config: Optional[Dict[str, Any]] = None,
            flops_size: tuple = (512, 640), latency_size: tuple = (256, 640),
            threads: int = 2, iters: int = 5) -> Dict[str, float]:
    """Return params, GFLOPs (2 per multiply-add) and median torch/onnxruntime latency (ms)."""
    torch.set_num_threads(threads)
    model = build_model(arch, config or {}).eval()
    cost = model_cost(model, *flops_size)
    left, right = torch.rand(1, 1, *latency_size), torch.rand(1, 1, *latency_size)
    with torch.inference_mode():
        torch_ms = _median_ms(lambda: model(left, right), iters)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(export_onnx(model, *latency_size), options,
                                   providers=['CPUExecutionProvider'])
    feed = {'left': left.numpy(), 'right': right.numpy()}
    ort_ms = _median_ms(lambda: session.run(None, feed), iters)
    return {**cost, 'torch_ms': torch_ms, 'ort_ms': ort_ms}


def main(argv: Optional[List[str]] = None) -> int:
    """Print the profile of one architecture/config."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='thermostereo_rt')
    parser.add_argument('--config', default='{}', help='JSON constructor overrides')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--iters', type=int, default=5)
    args = parser.parse_args(argv)
    result = profile(args.arch, json.loads(args.config), threads=args.threads,
                     iters=args.iters)
    print(f"{args.arch} {args.config}: {result['params'] / 1e6:.3f} M params, "
          f"{result['gflops']:.2f} GFLOPs at 640x512, latency at 640x256 with {args.threads} "
          f"threads: torch {result['torch_ms']:.1f} ms, onnxruntime {result['ort_ms']:.1f} ms")
    return 0


if __name__ == '__main__':
    sys.exit(main())
