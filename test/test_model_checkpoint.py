# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Checkpoints: safetensors round trip, and refusal of pickle, truncated and mismatched files."""

import pickle

import pytest
import torch

from thermostereo_ros.inference import (
    build_from_checkpoint, CheckpointError, load_checkpoint, save_checkpoint)
from thermostereo_ros.model import build_model

TINY = dict(max_disparity=32, base_channels=4, feature_channels=8, aggregation_channels=8,
            refinement_channels=4)


def _save(tmp_path, name='net.safetensors', **kw):
    torch.manual_seed(0)
    model = build_model('thermostereo_rt', dict(TINY, **kw)).eval()
    path = save_checkpoint(tmp_path / name, model, 'thermostereo_rt', model.config,
                           {'mode': 'joint', 'low': 1, 'high': 99}, {'dataset': 'unit'})
    return model, path


def test_round_trip_gives_identical_outputs(tmp_path):
    model, path = _save(tmp_path)
    loaded, meta = build_from_checkpoint(path)
    assert meta['arch'] == 'thermostereo_rt' and meta['config'] == model.config
    assert meta['normalization']['mode'] == 'joint' and meta['provenance'] == {'dataset': 'unit'}
    assert not loaded.training
    left, right = torch.rand(1, 1, 40, 70), torch.rand(1, 1, 40, 70)
    with torch.no_grad():
        a, b = model(left, right), loaded(left, right)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize('name', ['net.pt', 'net.safetensors'])
def test_pickle_checkpoint_refused(tmp_path, name):
    # A real torch.save file (zip container holding a pickle): refused by suffix and, when
    # renamed to .safetensors, by content.
    path = tmp_path / name
    torch.save({'w': torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match='pickle') as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_raw_pickle_refused_by_content(tmp_path):
    path = tmp_path / 'weights.safetensors'
    path.write_bytes(pickle.dumps({'w': [0.0]}, protocol=4))
    with pytest.raises(CheckpointError, match='pickle'):
        build_from_checkpoint(path)


@pytest.mark.parametrize('first_bytes', [b'\x80', b'PK'])
def test_a_header_length_that_looks_like_pickle_or_zip_loads(tmp_path, first_bytes):
    # The header length opens the file: 0x5380 bytes, say, starts with 0x80, the pickle
    # protocol byte (a shipped-weights export hit it). Such a safetensors file still loads.
    torch.manual_seed(0)
    model = build_model('thermostereo_rt', TINY).eval()

    def save(pad):
        return save_checkpoint(tmp_path / 'net.safetensors', model, 'thermostereo_rt',
                               model.config, {'mode': 'joint', 'low': 1, 'high': 99},
                               {'pad': 'x' * pad})

    # Each padding character lengthens the header by one byte (then rounded up to 8).
    modulus = 256 ** len(first_bytes)
    unpadded = int.from_bytes(save(0).read_bytes()[:8], 'little')
    near = (int.from_bytes(first_bytes, 'little') - unpadded) % modulus
    for pad in range(max(0, near - 8), near + 9):
        path = save(pad)
        if path.read_bytes()[:len(first_bytes)] == first_bytes:
            break
    else:
        pytest.fail(f'no padding gave a header length starting with {first_bytes!r}')
    loaded, meta = build_from_checkpoint(path)
    assert meta['provenance']['pad'] == 'x' * pad
    left, right = torch.rand(1, 1, 40, 70), torch.rand(1, 1, 40, 70)
    with torch.no_grad():
        assert torch.equal(model(left, right)[0], loaded(left, right)[0])


def test_truncated_file_refused(tmp_path):
    _, path = _save(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated') as info:
        build_from_checkpoint(path)
    assert str(path) in str(info.value)


def test_missing_file_refused(tmp_path):
    with pytest.raises(CheckpointError, match='does not exist'):
        load_checkpoint(tmp_path / 'nope.safetensors')


def test_mismatched_shapes_refused(tmp_path):
    _, path = _save(tmp_path)
    state, meta = load_checkpoint(path)
    other = build_model('thermostereo_rt', dict(TINY, feature_channels=16))
    # Weights of one width under the config of another: a shape mismatch, not a crash.
    save_checkpoint(tmp_path / 'bad.safetensors', other, 'thermostereo_rt', meta['config'],
                    meta['normalization'], {})
    with pytest.raises(CheckpointError, match='shape mismatch') as info:
        build_from_checkpoint(tmp_path / 'bad.safetensors')
    assert 'bad.safetensors' in str(info.value)


def test_unknown_architecture_refused(tmp_path):
    model = build_model('thermostereo_rt', TINY)
    path = save_checkpoint(tmp_path / 'x.safetensors', model, 'mystery_net', model.config,
                           {}, {})
    with pytest.raises(CheckpointError, match='unknown architecture'):
        build_from_checkpoint(path)


def test_read_architecture_from_the_metadata_alone(tmp_path):
    from thermostereo_ros.inference.checkpoint import read_architecture

    model, path = _save(tmp_path)
    assert read_architecture(path) == 'thermostereo_rt'
    pytest.importorskip('onnx')
    from thermostereo_ros.inference.onnx_io import export_onnx

    onnx_path = tmp_path / 'net.onnx'
    export_onnx(model, 32, 64, {'arch': 'thermostereo_rt'}, onnx_path)
    assert read_architecture(onnx_path) == 'thermostereo_rt'
    export_onnx(model, 32, 64, {}, tmp_path / 'bare.onnx')  # not ours: no architecture
    assert read_architecture(tmp_path / 'bare.onnx') is None
    (tmp_path / 'garbage.onnx').write_bytes(b'not protobuf at all \xff\xff')
    with pytest.raises(CheckpointError, match='not a readable ONNX file'):
        read_architecture(tmp_path / 'garbage.onnx')
