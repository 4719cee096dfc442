# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CPU bf16: only the network's bf16_modules run in bf16, within issue #15's parity bounds.

For OpenVINO and torch. The tests need a CPU with native bf16 (AMX or AVX512_BF16): elsewhere
OpenVINO has no bf16 to run, and auto never picks it.
"""

import numpy as np
import pytest

from thermostereo_ros.data.heldout import heldout_pairs
from thermostereo_ros.evaluation.metrics import MetricAccumulator
from thermostereo_ros.inference import cpu_features, StereoEngine
from thermostereo_ros.model import ThermoStereoRT

pytestmark = pytest.mark.skipif(not cpu_features.cpu_info().native_bf16,
                                reason='this CPU has no native bf16 (AMX or AVX512_BF16)')

# Issue #15's parity bounds for a bf16 default.
MAX_MEAN_ABS_DIFF_PX = 0.1
MAX_D1_CHANGE_POINTS = 0.5
PAIRS_PER_CONDITION = 8


def _runtime_precision_by_scope(engine):
    """{'encoder': {'f32': n}, 'aggregation': {'bf16': m}, ...} for the convolutions run."""
    compiled, _ = engine._runner.compiled(256, 640)
    scopes = {}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if info['layerType'].astype(str) != 'Convolution':
            continue
        # A fused layer is named after its first original op, e.g. /encoder/stage2/...
        scope = '/'.join(op.get_friendly_name().split('/')[1:3])
        precision = info['runtimePrecision'].astype(str)
        scopes.setdefault(scope, {}).setdefault(precision, 0)
        scopes[scope][precision] += 1
    return scopes


@pytest.fixture(scope='module')
def heldout():
    return [pair for condition in ('day', 'night', 'rain')
            for pair in heldout_pairs(condition, PAIRS_PER_CONDITION)]


def test_only_the_declared_modules_run_in_bf16():
    pytest.importorskip('openvino')
    engine = StereoEngine.from_checkpoint(backend='openvino', precision='bf16')
    scopes = _runtime_precision_by_scope(engine)
    declared = [m.replace('.', '/') for m in ThermoStereoRT.bf16_modules]
    for scope, counts in scopes.items():
        inside = any(scope == m or scope.startswith(m + '/') for m in declared)
        assert set(counts) == {'bf16' if inside else 'f32'}, (scope, counts)
    assert any(s.startswith('encoder') for s in scopes), scopes
    assert any(s.startswith('aggregation') for s in scopes), scopes


def test_torch_keeps_its_model_as_it_is():
    # The scoped forwards live on a copy: the engine's model still exports in fp32.
    engine = StereoEngine.from_checkpoint(backend='torch', precision='bf16')
    assert engine._runner.scoped
    assert not any('forward' in vars(m) for m in engine._runner.model.modules())
    assert any('forward' in vars(m) for m in engine._runner.forward.modules())


@pytest.mark.parametrize('backend', ['openvino', 'torch'])
def test_bf16_matches_fp32_on_held_out_pairs(heldout, backend):
    pytest.importorskip(backend)
    fp32 = StereoEngine.from_checkpoint(backend=backend, precision='fp32')
    bf16 = StereoEngine.from_checkpoint(backend=backend, precision='bf16')
    diffs, scores = [], {'fp32': MetricAccumulator(192), 'bf16': MetricAccumulator(192)}
    for pair in heldout:
        valid = ~pair.sky & (pair.disparity > 0)
        reference = fp32.infer(pair.left, pair.right).disparity
        fast = bf16.infer(pair.left, pair.right).disparity
        diffs.append(float(np.abs(fast - reference).mean()))
        scores['fp32'].update(reference, pair.disparity, valid)
        scores['bf16'].update(fast, pair.disparity, valid)
    assert np.mean(diffs) <= MAX_MEAN_ABS_DIFF_PX, np.round(diffs, 3)
    d1 = {name: acc.result()['d1'] for name, acc in scores.items()}
    assert abs(d1['bf16'] - d1['fp32']) <= MAX_D1_CHANGE_POINTS, d1


def test_torch_bf16_runs_a_network_built_without_some_bf16_modules(tmp_path):
    # use_refinement=False builds no refinement.*, which bf16_modules still names.
    import torch

    from thermostereo_ros.inference import save_checkpoint
    from thermostereo_ros.model import build_model

    config = dict(max_disparity=32, base_channels=4, feature_channels=8, aggregation_channels=8,
                  use_refinement=False)
    model = build_model('thermostereo_rt', config).eval()
    path = save_checkpoint(tmp_path / 'norefine.safetensors', model, 'thermostereo_rt',
                           model.config, {'mode': 'joint'}, {})
    engine = StereoEngine.from_checkpoint(path, backend='torch', precision='bf16')
    left = (np.arange(48 * 64, dtype=np.float32).reshape(48, 64) % 17) / 17
    with torch.inference_mode():
        assert engine.infer(left, np.roll(left, -3, 1)).disparity.shape == (48, 64)
