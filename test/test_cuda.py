# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CUDA engine checks: fp16 agrees with fp32, CUDA-graph replay equals eager execution.

Run on a GPU machine with `pytest -m cuda` (scripts/gpu_check.sh does); without CUDA every
test here skips with the reason.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.cuda

torch = pytest.importorskip('torch')
if not torch.cuda.is_available():
    pytest.skip('CUDA is not available on this machine', allow_module_level=True)

from thermostereo_ros.inference import StereoEngine  # noqa: E402
from thermostereo_ros.inference.shifted_texture import synthetic_pair  # noqa: E402

HEIGHT, WIDTH = 128, 320


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A small random-weight checkpoint with the benchmark's 192 px search."""
    import torch as _torch

    from thermostereo_ros.inference import save_checkpoint
    from thermostereo_ros.model import build_model

    _torch.manual_seed(0)
    # The default student width: fp16 error depends on channel counts, so test the real one.
    model = build_model('thermostereo_rt', {'max_disparity': 192})
    directory = tmp_path_factory.mktemp('cuda_ckpt')
    return save_checkpoint(directory / 'student.safetensors', model, 'thermostereo_rt',
                           model.config, {'mode': 'joint', 'low': 1, 'high': 99}, {})


@pytest.fixture(scope='module')
def pair():
    """A thermal-like uint16 pair with a known shift."""
    return synthetic_pair(HEIGHT, WIDTH, 16, seed=3)


def test_fp16_agrees_with_fp32(checkpoint, pair):
    fp32 = StereoEngine.from_checkpoint(checkpoint, device='cuda', precision='fp32')
    fp16 = StereoEngine.from_checkpoint(checkpoint, device='cuda', precision='fp16')
    a, b = fp32.infer(*pair), fp16.infer(*pair)
    assert b.disparity.dtype == np.float32 and b.disparity.shape == (HEIGHT, WIDTH)
    assert np.isfinite(b.disparity).all() and np.isfinite(b.confidence).all()
    error = np.abs(a.disparity - b.disparity)
    # Soft-argmin over 192 candidates in half precision: sub-pixel differences are expected,
    # errors of several pixels on more than a sliver of the image (overflow, NaN, a wrong
    # cast) are not. Loose on purpose: the weights are random, so the matching is flat.
    assert float(error.mean()) < 0.5, float(error.mean())
    assert float(np.mean(error > 2.0)) < 0.02, float(np.mean(error > 2.0))
    assert float(np.abs(a.confidence - b.confidence).max()) < 0.05


@pytest.mark.parametrize('precision', ['fp32', 'fp16'])
def test_cuda_graphs_equal_eager(checkpoint, pair, precision):
    eager = StereoEngine.from_checkpoint(checkpoint, device='cuda', precision=precision)
    graphs = StereoEngine.from_checkpoint(checkpoint, device='cuda', precision=precision,
                                          cuda_graphs=True, warmup_size=(HEIGHT, WIDTH))
    a = eager.infer(*pair)
    # Replay twice with different inputs in between: the graph's static buffers must be
    # refreshed on every call, not reuse the previous frame.
    other = synthetic_pair(HEIGHT, WIDTH, 40, seed=5)
    graphs.infer(*other)
    b = graphs.infer(*pair)
    # Same kernels on the same inputs (cudnn.benchmark may choose per call site, hence the
    # tolerance rather than bit equality).
    np.testing.assert_allclose(b.disparity, a.disparity, atol=1e-2, rtol=0)
    np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-3, rtol=0)
    c = graphs.infer(*other)
    assert not np.array_equal(c.disparity, b.disparity)


def test_tensorrt_engine_cache_gives_the_same_outputs(checkpoint, pair, tmp_path):
    pytest.importorskip('tensorrt')
    plain = StereoEngine.from_checkpoint(checkpoint, backend='tensorrt', precision='fp16')
    expected = plain.infer(*pair).disparity
    outputs = []
    for _ in range(2):  # the first builds and stores the engine, the second loads it
        cached = StereoEngine.from_checkpoint(checkpoint, backend='tensorrt', precision='fp16',
                                              export_cache_dir=tmp_path)
        outputs.append(cached.infer(*pair).disparity)
    assert len(list((tmp_path / 'built').glob('*.bin'))) == 1
    # The loaded engine is the stored one: the same kernels, the same numbers.
    np.testing.assert_array_equal(outputs[1], outputs[0])
    # Against a separate build (which may choose other fp16 tactics): the same network.
    assert np.abs(outputs[0] - expected).mean() < 0.1
