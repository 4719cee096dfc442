# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""precision 'auto': what it picks, and bf16 against fp32 on held-out pairs (the parity bound)."""

import pytest

from thermostereo_ros.inference import cpu_features
from thermostereo_ros.inference.engine import resolve_precision

torch = pytest.importorskip('torch')


def test_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch):
    amx = cpu_features.CpuInfo('Xeon', frozenset({'amx_bf16', 'amx_tile', 'avx512f'}))
    plain = cpu_features.CpuInfo('EPYC', frozenset({'avx2'}))
    monkeypatch.setattr(cpu_features, 'cpu_info', lambda path='/proc/cpuinfo': amx)
    assert resolve_precision('auto', 'cpu', 'torch') == 'bf16'
    assert resolve_precision('auto', 'cpu', 'onnxruntime') == 'fp32'
    assert resolve_precision('auto', 'cuda', 'torch') == 'fp32'
    assert resolve_precision('fp32', 'cpu', 'torch') == 'fp32'
    monkeypatch.setattr(cpu_features, 'cpu_info', lambda path='/proc/cpuinfo': plain)
    assert resolve_precision('auto', 'cpu', 'torch') == 'fp32'


@pytest.mark.slow
def test_bf16_is_as_accurate_as_fp32_on_heldout_pairs():
    """EPE within 0.1 px and D1 within 0.5 points of fp32, on held-out pairs of each condition.

    Measured, not tuned: the held-out pairs only score the shipped weights here. Issue #15
    also asked for a mean per-pixel |bf16 - fp32| of at most 0.1 px; with the step-10,788
    weights it is 0.17 px (median 0.11; 12 pairs), with EPE and D1 unchanged, so that bound is
    reported as missed (docs/PERFORMANCE.md) rather than asserted. On CPUs without native bf16
    oneDNN emulates it: slow, but the same arithmetic.
    """
    from thermostereo_ros.data.heldout import heldout_pairs
    from thermostereo_ros.evaluation.metrics import MetricAccumulator
    from thermostereo_ros.inference import StereoEngine

    engines = {p: StereoEngine.from_checkpoint(device='cpu', precision=p)
               for p in ('fp32', 'bf16')}
    assert engines['bf16'].precision == 'bf16'
    scores = {p: MetricAccumulator(192) for p in engines}
    for condition in ('day', 'night', 'rain'):
        for pair in heldout_pairs(condition, count=2):
            for name, engine in engines.items():
                scores[name].update(engine.infer(pair.left, pair.right).disparity,
                                    pair.disparity)
    fp32, bf16 = scores['fp32'].result(), scores['bf16'].result()
    assert abs(bf16['epe'] - fp32['epe']) <= 0.1, (fp32, bf16)
    assert abs(bf16['d1'] - fp32['d1']) <= 0.5, (fp32, bf16)
