# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""precision 'auto': what it picks."""

import pytest

from thermostereo_ros.inference import cpu_features
from thermostereo_ros.inference.engine import resolve_precision

torch = pytest.importorskip('torch')


def test_auto_is_fp32_on_every_cpu_even_with_native_bf16(monkeypatch):
    # bf16 missed issue #15's parity bound with the step-16,000 weights (EPE +0.155 px, D1
    # +0.72 points on 6 held-out pairs against 0.1 px and 0.5 points; docs/PERFORMANCE.md), so
    # auto no longer picks it; bf16 stays an explicit choice.
    amx = cpu_features.CpuInfo('Xeon', frozenset({'amx_bf16', 'amx_tile', 'avx512f'}))
    monkeypatch.setattr(cpu_features, 'cpu_info', lambda path='/proc/cpuinfo': amx)
    assert amx.native_bf16
    for backend in ('torch', 'openvino', 'onnxruntime'):
        assert resolve_precision('auto', 'cpu', backend) == 'fp32'
    assert resolve_precision('auto', 'cuda', 'torch') == 'fp32'
    assert resolve_precision('bf16', 'cpu', 'torch') == 'bf16'
