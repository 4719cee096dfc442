# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""StereoEngine: input validation, options, default weights, torch vs ONNX runtime parity."""

import numpy as np
import pytest
import torch

from thermostereo_ros.inference import (
    CheckpointError, default_checkpoint, save_checkpoint, StereoEngine, StereoResult)
from thermostereo_ros.inference import backends
from thermostereo_ros.inference.engine import DEFAULT_WEIGHTS
from thermostereo_ros.inference.onnx_io import export_onnx
from thermostereo_ros.inference.shifted_texture import synthetic_pair
from thermostereo_ros.model import build_model

STUDENT = dict(max_disparity=32, base_channels=4, feature_channels=8, aggregation_channels=8,
               refinement_channels=4)
TEACHER = dict(max_disparity=32, base_channels=4, feature_channels=8, groups=2,
               concat_channels=2, volume_channels=4, refinement_channels=8)


def _checkpoint(tmp_path, arch='thermostereo_rt', config=STUDENT):
    torch.manual_seed(0)
    model = build_model(arch, config)
    return save_checkpoint(tmp_path / f'{arch}.safetensors', model, arch, model.config,
                           {'mode': 'joint'}, {'test': True})


@pytest.fixture(scope='module')
def student_ckpt(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp('ckpt'))


@pytest.fixture(scope='module')
def shared_filter_ckpt(tmp_path_factory):
    """A student with the disparity-shared filter switched on (its output layer non-zero)."""
    torch.manual_seed(0)
    model = build_model('thermostereo_rt', dict(STUDENT, shared_filter=4))
    torch.nn.init.normal_(model.aggregation.shared.out.weight, std=0.3)
    path = tmp_path_factory.mktemp('shared') / 'shared.safetensors'
    return save_checkpoint(path, model, 'thermostereo_rt', model.config, {'mode': 'joint'},
                           {'test': True})


def test_infer_shapes_dtypes_and_properties(student_ckpt):
    engine = StereoEngine.from_checkpoint(student_ckpt, device='cpu', backend='torch')
    # auto: bf16 where the CPU computes it natively (test_precision.py says when).
    expected = backends.plan('cpu', 'torch', 'auto', arch='thermostereo_rt').precision
    assert (engine.device, engine.backend, engine.precision) == ('cpu', 'torch', expected)
    assert engine.trained_range == 32 and engine.metadata['arch'] == 'thermostereo_rt'
    for dtype in (np.uint16, np.uint8, np.float32):
        left, right = synthetic_pair(45, 77)
        result = engine.infer(left.astype(dtype), right.astype(dtype))
        assert isinstance(result, StereoResult)
        assert result.disparity.shape == result.confidence.shape == (45, 77)
        assert result.disparity.dtype == result.confidence.dtype == np.float32
        assert result.disparity.min() >= 0
        assert 0 <= result.confidence.min() and result.confidence.max() <= 1


def test_rejects_bad_inputs_with_clear_messages(student_ckpt):
    engine = StereoEngine.from_checkpoint(student_ckpt, device='cpu', backend='torch')
    a = np.zeros((40, 60), np.uint16)
    with pytest.raises(ValueError, match=r'\(40, 60\).*\(40, 61\)'):
        engine.infer(a, np.zeros((40, 61), np.uint16))
    with pytest.raises(ValueError, match='uint16.*uint8'):
        engine.infer(a, a.astype(np.uint8))
    with pytest.raises(ValueError, match='empty'):
        engine.infer(np.zeros((0, 5), np.uint8), np.zeros((0, 5), np.uint8))
    with pytest.raises(ValueError, match='HxW'):
        engine.infer(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    bad = np.zeros((40, 60), np.float32)
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        engine.infer(np.zeros((40, 60), np.float32), bad)


def test_rejects_bad_options(student_ckpt):
    for kwargs, pattern in (({'backend': 'tf'}, 'backend'),
                            ({'precision': 'int4'}, 'precision'),
                            ({'device': 'cpu', 'precision': 'fp16'}, 'CUDA'),
                            ({'device': 'tpu'}, 'device'),
                            ({'max_disparity': -4}, 'positive'),
                            ({'device': 'cpu', 'cuda_graphs': True}, 'cuda_graphs'),
                            ({'backend': 'openvino', 'precision': 'fp16'}, 'CUDA')):
        with pytest.raises(ValueError, match=pattern):
            StereoEngine.from_checkpoint(student_ckpt, **kwargs)


def test_max_disparity_override(student_ckpt, tmp_path):
    # The student's weights depend on D/4 (disparity channels): refused.
    with pytest.raises(ValueError, match='weights depend'):
        StereoEngine.from_checkpoint(student_ckpt, device='cpu', backend='torch', max_disparity=64)
    # The teacher's 3-D convs do not: rebuilt with the new value.
    teacher = _checkpoint(tmp_path, 'teacher', TEACHER)
    engine = StereoEngine.from_checkpoint(teacher, device='cpu', backend='torch', max_disparity=48)
    assert engine.trained_range == 48
    assert engine.infer(*synthetic_pair(32, 64)).disparity.shape == (32, 64)


@pytest.mark.parametrize('network', ['student_ckpt', 'shared_filter_ckpt'])
@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_torch_and_onnx_runtimes_agree(network, tmp_path, backend, request):
    pytest.importorskip(backend)
    pytest.importorskip('onnx')
    student_ckpt = request.getfixturevalue(network)
    left, right = synthetic_pair(50, 90, disparity=6)
    ref = StereoEngine.from_checkpoint(student_ckpt, device='cpu', precision='fp32',
                                       backend='torch').infer(
        left, right)
    # fp32 explicitly: on a CPU with native bf16, openvino's auto is bf16.
    exported = StereoEngine.from_checkpoint(student_ckpt, backend=backend, precision='fp32')
    assert (exported.device, exported.backend) == ('cpu', backend)
    got = exported.infer(left, right)
    # Both run the same fp32 graph; only kernel summation order differs (~1e-6 relative).
    # A soft-argmin over 8 bins scaled x4 to full resolution turns that into at most ~1e-4
    # px, so 1e-3 px leaves margin while a wrong op (e.g. a mis-exported pad) is >> 1e-3.
    np.testing.assert_allclose(got.disparity, ref.disparity, rtol=0, atol=1e-3)
    np.testing.assert_allclose(got.confidence, ref.confidence, rtol=0, atol=1e-4)
    # A .onnx file exported for this size runs on its own, with the stored metadata.
    model = StereoEngine.from_checkpoint(student_ckpt, device='cpu', backend='torch').network
    onnx_path = tmp_path / 'net.onnx'
    meta = {'arch': 'thermostereo_rt', 'config': model.config,
            'normalization': {'mode': 'joint'}, 'provenance': {}}
    export_onnx(model, 50, 90, meta, onnx_path)
    direct = StereoEngine.from_checkpoint(onnx_path, backend=backend, precision='fp32')
    assert direct.trained_range == 32
    np.testing.assert_allclose(direct.infer(left, right).disparity, ref.disparity, atol=1e-3)
    with pytest.raises(ValueError, match='exported for 50x90'):
        direct.infer(*synthetic_pair(40, 90))


def test_openvino_refuses_bf16_that_the_cpu_would_not_run(student_ckpt):
    openvino = pytest.importorskip('openvino')
    if 'BF16' in openvino.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES'):
        pytest.skip('this CPU runs bf16 natively')
    with pytest.raises(ValueError, match='no native bf16'):
        StereoEngine.from_checkpoint(student_ckpt, backend='openvino', precision='bf16')


def test_tensorrt_backend_unavailable_is_clear(student_ckpt):
    try:
        import tensorrt  # noqa: F401
        pytest.skip('tensorrt is installed')
    except ImportError:
        pass
    with pytest.raises(ValueError, match='CUDA'):
        StereoEngine.from_checkpoint(student_ckpt, device='cpu', backend='tensorrt')


def test_pickle_refused_through_engine(tmp_path):
    path = tmp_path / 'model.pth'
    torch.save({'w': torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match='pickle'):
        StereoEngine.from_checkpoint(path, device='cpu')


def test_default_checkpoint_missing_is_clear(monkeypatch):
    from thermostereo_ros.inference import engine as engine_module
    assert default_checkpoint().name == DEFAULT_WEIGHTS  # shipped with the package
    # An installation that lost its weights file (e.g. a broken package build).
    monkeypatch.setattr(engine_module, 'DEFAULT_WEIGHTS', 'absent.safetensors')
    with pytest.raises(CheckpointError, match='no default weights') as info:
        engine_module.default_checkpoint()
    assert 'absent.safetensors' in str(info.value)
    with pytest.raises(CheckpointError, match='pass the path'):
        StereoEngine.from_checkpoint(device='cpu', backend='torch')


def test_export_cli(student_ckpt, tmp_path, capsys):
    import argparse

    from thermostereo_ros.cli.main import SUBCOMMANDS
    from thermostereo_ros.inference import export
    # Parse with this module only, so other subcommands' optional dependencies do not matter.
    assert SUBCOMMANDS['export'][0] == 'thermostereo_ros.inference.export'
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    out = tmp_path / 'cli.onnx'
    rc = export.run(parser.parse_args([
        '--format', 'onnx', '--height', '40', '--width', '72',
        '--checkpoint', str(student_ckpt), '--out', str(out)]))
    assert rc == 0 and out.is_file()
    assert 'max abs difference' in capsys.readouterr().out


def test_backend_auto_picks_by_file_device_and_cpu():
    import pathlib

    openvino = backends.REGISTRY['openvino'].installed()

    def auto(suffix='.safetensors', backend='auto'):
        return backends.plan('cpu', backend, 'fp32', pathlib.Path('m' + suffix),
                             cuda_available=False).backend
    assert auto(backend='onnxruntime') == 'onnxruntime'  # a choice is kept
    assert backends.auto_backend('auto', '.plan', False) == 'tensorrt'
    assert auto('.onnx') == ('openvino' if openvino else 'onnxruntime')
    expected = 'openvino' if openvino else 'torch'
    assert auto() == expected
    engine = StereoEngine.from_checkpoint(backend='auto', device='cpu')
    assert engine.backend == expected  # the engine reports what runs, never 'auto'
    # The library's default is what the node runs with its default parameters.
    from thermostereo_ros.ros.parameters import DEFAULTS
    node = backends.plan(DEFAULTS['device'], DEFAULTS['backend'], DEFAULTS['precision'],
                         arch='thermostereo_rt')
    library = StereoEngine.from_checkpoint()
    assert (library.backend, library.device, library.precision) == tuple(node)


def test_a_backend_is_one_runner_and_one_spec(student_ckpt, monkeypatch):
    """What CONTRIBUTING.md promises: a registered spec is a backend the engine can build."""
    class NumpyReference:
        """A toy backend: the torch network's answer, shifted by one pixel."""

        def __init__(self, model):
            self.torch = backends.spec('torch').from_model(model, {}, 'cpu', 'fp32', None, {})

        def run(self, left, right):
            disparity, confidence = self.torch.run(left, right)
            return disparity + 1.0, confidence

    toy = backends.BackendSpec(
        'numpy_reference', ('numpy',), {'cpu': ('fp32',)},
        from_model=lambda model, metadata, device, precision, cache, options:
        NumpyReference(model))
    monkeypatch.setitem(backends.REGISTRY, toy.name, toy)
    engine = StereoEngine.from_checkpoint(student_ckpt, backend='numpy_reference',
                                          precision='fp32')
    reference = StereoEngine.from_checkpoint(student_ckpt, backend='torch', device='cpu',
                                             precision='fp32')
    left, right = synthetic_pair(32, 64)
    assert (engine.backend, engine.device) == ('numpy_reference', 'cpu')
    np.testing.assert_allclose(engine.infer(left, right).disparity,
                               reference.infer(left, right).disparity + 1.0, atol=1e-5)
    with pytest.raises(ValueError, match='runs on the CPU only'):
        backends.check(toy, 'cuda', 'fp32')
    with pytest.raises(ValueError, match='runs precision fp32'):
        StereoEngine.from_checkpoint(student_ckpt, backend='numpy_reference', device='cpu',
                                     precision='bf16')


def test_channels_last_keeps_3d_weights_and_outputs():
    from thermostereo_ros.inference.torch_backend import channels_last_2d

    torch.manual_seed(0)
    net = torch.nn.ModuleDict({'conv2d': torch.nn.Conv2d(3, 8, 3, padding=1),
                               'conv3d': torch.nn.Conv3d(2, 4, 3, padding=1)})
    x2, x3 = torch.rand(1, 3, 16, 20), torch.rand(1, 2, 6, 16, 20)
    with torch.no_grad():
        before = net['conv2d'](x2), net['conv3d'](x3)
        # Module.to refuses the 5-D weight; the per-tensor conversion leaves it as it is.
        with pytest.raises(RuntimeError, match='rank 4'):
            torch.nn.Conv3d(2, 4, 3).to(memory_format=torch.channels_last)
        assert channels_last_2d(net) is net
        assert net['conv2d'].weight.is_contiguous(memory_format=torch.channels_last)
        assert not net['conv2d'].weight.is_contiguous()
        assert net['conv3d'].weight.is_contiguous()
        after = net['conv2d'](x2), net['conv3d'](x3)
    for a, b in zip(before, after):
        assert torch.allclose(a, b, atol=1e-5)


def test_torch_folds_batch_norms_into_a_copy():
    # The shipped weights: random ones have untrained (identity-like) norms, which would
    # hide a wrong fold.
    from thermostereo_ros.inference.torch_backend import fold_batch_norms

    engine = StereoEngine.from_checkpoint(backend='torch', precision='fp32')
    model = engine.network
    norms = (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    before = sum(isinstance(m, norms) for m in model.modules())
    folded = fold_batch_norms(model)
    assert not any(isinstance(m, norms) for m in folded.modules())
    assert before == 36 and sum(isinstance(m, norms) for m in model.modules()) == before
    left, right = synthetic_pair(64, 160, disparity=12)
    with torch.inference_mode():
        inputs = [torch.from_numpy(x.astype(np.float32) / 65535.0)[None, None]
                  for x in (left, right)]
        plain, fast = model(*inputs)[0], folded(*inputs)[0]
    # The same affine maps, summed in another order: float32 rounding, amplified a little by
    # the soft-argmin at a few ambiguous pixels.
    difference = (plain - fast).abs()
    assert float(difference.mean()) < 1e-4 and float(difference.max()) < 1e-2
