# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The on-disk export cache: reused only for the same network and size, rebuilt when broken."""

import numpy as np
import pytest
import torch

from thermostereo_ros.inference import save_checkpoint, StereoEngine
from thermostereo_ros.inference.export_cache import (
    default_cache_dir, ExportCache, model_fingerprint)
from thermostereo_ros.inference.onnx_io import export_onnx, read_onnx_metadata
from thermostereo_ros.inference.shifted_texture import synthetic_pair
from thermostereo_ros.model import build_model

pytest.importorskip('onnx')

STUDENT = dict(max_disparity=32, base_channels=4, feature_channels=8, aggregation_channels=8,
               refinement_channels=4)
METADATA = {'arch': 'thermostereo_rt', 'config': STUDENT}


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model('thermostereo_rt', STUDENT).eval()


def test_fingerprint_follows_the_weights_and_the_metadata():
    model = _model()
    same = _model()
    assert model_fingerprint(model, METADATA) == model_fingerprint(same, METADATA)
    with torch.no_grad():
        next(same.parameters()).view(-1)[0] += 1e-3
    assert model_fingerprint(model, METADATA) != model_fingerprint(same, METADATA)
    other_meta = {**METADATA, 'normalization': {'mode': 'per_image'}}
    assert model_fingerprint(model, METADATA) != model_fingerprint(model, other_meta)


def test_a_second_export_is_read_from_the_file(tmp_path):
    import onnx

    cache = ExportCache(tmp_path)
    model = _model()
    first = cache.onnx(model, 40, 64, METADATA)
    path = cache.path(model, 40, 64, METADATA)
    assert path.read_bytes() == first
    # Put another valid export of the same size in the file: if the cache traced again it
    # would return the original, so getting this one back proves the file was read.
    stand_in = export_onnx(_model(seed=1), 40, 64, METADATA)
    assert stand_in != first
    path.write_bytes(stand_in)
    assert cache.onnx(model, 40, 64, METADATA) == stand_in
    assert read_onnx_metadata(onnx.load_from_string(stand_in))['input_size'] == (40, 64)


def test_sizes_and_networks_get_their_own_files(tmp_path):
    cache = ExportCache(tmp_path)
    model, other = _model(), _model(seed=1)
    paths = {cache.path(model, 40, 64, METADATA), cache.path(model, 48, 64, METADATA),
             cache.path(other, 40, 64, METADATA)}
    assert len(paths) == 3


def test_sizes_lists_this_networks_exports_most_recently_used_first(tmp_path):
    import os

    cache = ExportCache(tmp_path)
    model, other = _model(), _model(seed=1)
    for size in ((40, 64), (48, 64), (40, 72)):
        cache.onnx(model, *size, METADATA)
    cache.onnx(other, 56, 64, METADATA)
    prefix = cache.path(model, 1, 1, METADATA).name.split('_')[0]
    (tmp_path / f'{prefix}_junk.onnx').write_text('')  # not a size: ignored
    for age, size in enumerate(((40, 72), (40, 64), (48, 64))):
        os.utime(cache.path(model, *size, METADATA), (1e9 - age, 1e9 - age))
    assert cache.sizes(model, METADATA) == [(40, 72), (40, 64), (48, 64)]
    cache.onnx(model, 48, 64, METADATA)  # a cache hit makes it the latest
    assert cache.sizes(model, METADATA)[0] == (48, 64)
    assert cache.sizes(other, METADATA) == [(56, 64)]


def test_a_broken_or_wrong_size_file_is_traced_again_and_replaced(tmp_path):
    cache = ExportCache(tmp_path)
    model = _model()
    good = cache.onnx(model, 40, 64, METADATA)
    path = cache.path(model, 40, 64, METADATA)
    for broken in (good[:len(good) // 2], b'not onnx', export_onnx(model, 48, 64, METADATA)):
        path.write_bytes(broken)
        assert cache.onnx(model, 40, 64, METADATA) == good
        assert path.read_bytes() == good
    assert not list(tmp_path.glob('*.tmp'))


def test_an_unwritable_folder_costs_only_the_speed_up(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('a file where the folder would be')
    cache = ExportCache(blocker / 'exports')
    model = _model()
    assert cache.onnx(model, 40, 64, METADATA) == export_onnx(model, 40, 64, METADATA)


def test_the_folder_keeps_to_its_budget_least_recently_used_first(tmp_path):
    import os

    model = _model()
    one = len(export_onnx(model, 40, 64, METADATA))
    cache = ExportCache(tmp_path, max_bytes=int(2.5 * one))  # room for two exports
    (tmp_path / 'openvino').mkdir()
    blob = tmp_path / 'openvino' / 'compiled.blob'
    blob.write_bytes(b'x' * 100)
    cache.onnx(model, 40, 64, METADATA)
    cache.onnx(model, 48, 64, METADATA)
    assert blob.exists() and len(cache.files()) == 3  # within budget: nothing removed
    os.utime(blob, (1.0e9, 1.0e9))
    os.utime(cache.path(model, 40, 64, METADATA), (1.5e9, 1.5e9))
    os.utime(cache.path(model, 48, 64, METADATA), (1.6e9, 1.6e9))
    cache.onnx(model, 40, 64, METADATA)  # a hit: 40x64 is now the most recently used
    cache.onnx(model, 40, 72, METADATA)  # over budget: the blob, then 48x64, go
    assert not blob.exists() and not cache.path(model, 48, 64, METADATA).exists()
    assert cache.sizes(model, METADATA) == [(40, 72), (40, 64)]
    assert sum(p.stat().st_size for p in cache.files()) <= cache.max_bytes


def test_a_file_over_the_whole_budget_is_still_kept(tmp_path):
    cache = ExportCache(tmp_path, max_bytes=10)
    model = _model()
    cache.onnx(model, 40, 64, METADATA)
    cache.onnx(model, 48, 64, METADATA)
    assert cache.sizes(model, METADATA) == [(48, 64)]  # the one just written survives
    assert cache.prune() == [cache.path(model, 48, 64, METADATA)]  # unless nothing is kept


def test_default_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    assert default_cache_dir() == tmp_path / 'thermostereo' / 'exports'
    assert ExportCache().root == tmp_path / 'thermostereo' / 'exports'


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_engines_with_the_cache_give_the_same_outputs(tmp_path, backend):
    pytest.importorskip(backend)
    model = _model()
    checkpoint = save_checkpoint(tmp_path / 'student.safetensors', model, 'thermostereo_rt',
                                 model.config, {'mode': 'joint'}, {'test': True})
    left, right = synthetic_pair(40, 64, disparity=4)
    plain = StereoEngine.from_checkpoint(checkpoint, backend=backend, device='cpu')
    expected = plain.infer(left, right).disparity
    cache_dir = tmp_path / 'cache'
    for _ in range(2):  # the first fills the cache, the second reads it
        engine = StereoEngine.from_checkpoint(checkpoint, backend=backend, device='cpu',
                                              export_cache_dir=cache_dir)
        np.testing.assert_allclose(engine.infer(left, right).disparity, expected, atol=1e-5)
    assert len(list(cache_dir.glob('*_64x40.onnx'))) == 1
    if backend == 'openvino':  # OpenVINO keeps its compiled model beside the export
        assert list((cache_dir / 'openvino').iterdir())


def test_a_runtime_build_is_made_once_per_export_and_target(tmp_path):
    cache = ExportCache(tmp_path)
    builds = []

    def build(tag):
        builds.append(tag)
        return f'binary {tag} {len(builds)}'.encode()

    def load(data):
        return data.decode()

    first = cache.built(b'onnx A', {'gpu': 'x'}, lambda: build('A'), load)
    assert cache.built(b'onnx A', {'gpu': 'x'}, lambda: build('A'), load) == first
    assert builds == ['A']
    # Another export or another target (a GPU, a runtime version) is another binary.
    cache.built(b'onnx B', {'gpu': 'x'}, lambda: build('B'), load)
    cache.built(b'onnx A', {'gpu': 'y'}, lambda: build('A'), load)
    assert builds == ['A', 'B', 'A']

    def refuse_old(data):  # what a TensorRT that cannot deserialise the file does
        if data.endswith(b' 1'):
            raise RuntimeError('engine from another version')
        return data.decode()

    rebuilt = cache.built(b'onnx A', {'gpu': 'x'}, lambda: build('A'), refuse_old)
    assert rebuilt == 'binary A 4' and builds == ['A', 'B', 'A', 'A']
    assert cache.built(b'onnx A', {'gpu': 'x'}, lambda: build('A'), load) == rebuilt
