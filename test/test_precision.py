# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""precision 'auto': what it picks."""

import pytest

from thermostereo_ros.inference import cpu_features
from thermostereo_ros.inference import backends

torch = pytest.importorskip('torch')

AMX = cpu_features.CpuInfo('Xeon', frozenset({'amx_bf16', 'amx_tile', 'avx512f'}))
AVX2 = cpu_features.CpuInfo('EPYC', frozenset({'avx2'}))


def resolve_precision(precision, device, backend, arch=None):
    return backends.plan(device, backend, precision, arch=arch,
                         cuda_available=device == 'cuda').precision


def test_auto_is_bf16_only_for_a_network_that_declares_its_bf16_modules(monkeypatch):
    monkeypatch.setattr(cpu_features, 'cpu_info', lambda path='/proc/cpuinfo': AMX)
    assert AMX.native_bf16
    assert resolve_precision('auto', 'cpu', 'openvino', 'thermostereo_rt') == 'bf16'
    assert resolve_precision('auto', 'cpu', 'torch', 'thermostereo_rt') == 'bf16'
    # onnxruntime has no bf16 path on the CPU.
    assert resolve_precision('auto', 'cpu', 'onnxruntime', 'thermostereo_rt') == 'fp32'
    # The teacher declares no bf16_modules, and an unknown architecture nothing at all.
    assert resolve_precision('auto', 'cpu', 'openvino', 'teacher') == 'fp32'
    assert resolve_precision('auto', 'cpu', 'openvino', None) == 'fp32'
    assert resolve_precision('auto', 'cuda', 'torch', 'thermostereo_rt') == 'fp32'
    # An explicit choice is never changed.
    assert resolve_precision('bf16', 'cpu', 'torch') == 'bf16'
    assert resolve_precision('fp32', 'cpu', 'openvino', 'thermostereo_rt') == 'fp32'


def test_auto_is_fp32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(cpu_features, 'cpu_info', lambda path='/proc/cpuinfo': AVX2)
    for backend in ('torch', 'openvino', 'onnxruntime'):
        assert resolve_precision('auto', 'cpu', backend, 'thermostereo_rt') == 'fp32'
