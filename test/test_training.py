# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Training: losses, resumable state, and two-process DDP (gloo on CPU) ending in equal weights."""

import json
import pathlib
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from thermostereo_ros.data.synthetic import RENDERER_VERSION
from thermostereo_ros.training.config import load_config
from thermostereo_ros.cli.train import parse_duration
from thermostereo_ros.training.losses import (distillation_loss,
                                              distribution_distillation_loss, distribution_loss,
                                              masked_smooth_l1, scale_weights)
from thermostereo_ros.training.trainer import train, training_threads

TINY = {
    'arch': 'thermostereo_rt',
    'model': {'base_channels': 8, 'feature_channels': 16, 'aggregation_channels': 16,
              'refinement_channels': 8},
    'max_disparity': 48,
    'device': 'cpu',
    'data': {'height': 64, 'width': 160, 'crop': [64, 128], 'num_workers': 0,
             'train_seeds': 40},
    'optim': {'steps': 4, 'batch_size': 2, 'warmup_steps': 2},
    'log': {'log_every': 2, 'checkpoint_every': 2, 'image_every': 2, 'val_pairs': 1},
}


def _config(out_dir, **overrides):
    config = json.loads(json.dumps(TINY))
    config['log']['out_dir'] = str(out_dir)
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return load_config(None, config)


def test_masked_smooth_l1_hand_computed():
    pred = torch.tensor([[0.0, 2.0, 5.0]])
    target = torch.tensor([[0.5, 0.0, 5.0]])
    mask = torch.tensor([[True, True, False]])
    # smooth-L1 (beta 1): 0.5 * 0.5^2 = 0.125 and |2| - 0.5 = 1.5 -> mean 0.8125.
    assert masked_smooth_l1(pred, target, mask).item() == pytest.approx(0.8125)
    assert masked_smooth_l1(pred, target, torch.zeros_like(mask)).item() == 0.0


def test_scale_weights_favour_final_prediction():
    weights = scale_weights(3)
    assert weights[-1] == 1.0 and weights[0] < weights[1] < weights[2]


def test_distillation_weighted_by_teacher_confidence():
    pred = [torch.full((1, 1, 1, 2), 4.0)]
    teacher = torch.tensor([[[[2.0, 6.0]]]])
    confident = distillation_loss(pred, teacher, torch.tensor([[[[1.0, 0.0]]]]), 48)
    # Only the first pixel counts: |4 - 2| - 0.5 = 1.5.
    assert confident.item() == pytest.approx(1.5)


def test_unknown_config_key_is_an_error(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('optim: {stepz: 3}\n')
    with pytest.raises(KeyError, match='stepz'):
        load_config(path)


def test_resume_reproduces_uninterrupted_run(tmp_path):
    straight = train(_config(tmp_path / 'straight'), progress=False)
    state = train(_config(tmp_path / 'resumed'), progress=False, stop_at=2)
    assert state.name == 'state.safetensors'
    assert not (tmp_path / 'resumed' / 'final.safetensors').exists()
    resumed = train(_config(tmp_path / 'resumed'), resume=True, progress=False)
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    meta = json.loads((tmp_path / 'straight' / 'provenance.json').read_text())
    assert meta['steps'] == 4 and meta['supervision'] == 'sparse'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_ddp_two_ranks_end_with_identical_weights(tmp_path):
    import yaml
    config = _config(tmp_path / 'ddp')
    config_path = tmp_path / 'ddp.yaml'
    config_path.write_text(yaml.safe_dump(config))
    init = train(_config(tmp_path / 'init', optim={'steps': 0}), progress=False)
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_addr', '127.0.0.1', '--master_port', str(_free_port()),
         '-m', 'thermostereo_ros.cli.main', 'train', '--config', str(config_path),
         '--no-progress'],
        capture_output=True, text=True, timeout=240, cwd=pathlib.Path(__file__).parents[1])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    digests = json.loads((tmp_path / 'ddp' / 'rank_digests.json').read_text())
    assert len(digests) == 2 and digests[0] == digests[1]
    # The ranks did train: the weights moved away from the shared initialisation.
    before = load_file(str(init))
    after = load_file(str(tmp_path / 'ddp' / 'final.safetensors'))
    moved = sum(float((after[k] - before[k]).abs().sum()) for k in before
                if before[k].is_floating_point() and 'running' not in k)
    assert moved > 0


def test_distribution_loss_prefers_the_true_disparity():
    # GT 8 px at full resolution is candidate 2 at 1/4: logits peaked there score lowest.
    target = torch.full((1, 8, 8), 8.0)
    mask = torch.ones(1, 8, 8, dtype=torch.bool)
    peaked = torch.full((1, 6, 2, 2), -5.0)
    peaked[:, 2] = 5.0
    wrong = torch.full((1, 6, 2, 2), -5.0)
    wrong[:, 4] = 5.0
    good = distribution_loss(peaked, target, mask)
    assert good < distribution_loss(wrong, target, mask)
    # Lower bound: the target's own entropy, reached by logits equal to its log-probabilities.
    wanted = torch.softmax(-(torch.arange(6.0) - 2.0).abs() / 0.5, 0)
    exact = wanted.log().view(1, 6, 1, 1).expand(1, 6, 2, 2)
    entropy = -(wanted * wanted.log()).sum()
    lowest = distribution_loss(exact, target, mask).item()
    assert lowest == pytest.approx(entropy.item(), rel=1e-5)
    assert distribution_loss(peaked, target, torch.zeros_like(mask)).item() == 0.0


def test_distribution_distillation_is_the_kl_from_the_teacher():
    teacher = torch.tensor([-30.0, 0.0]).view(1, 2, 1, 1)  # almost all mass on candidate 1
    student = torch.tensor([0.25, 0.75]).log().view(1, 2, 1, 1)
    # KL(teacher || student) = 1 * log(1 / 0.75); the near-empty candidate adds ~1e-12.
    assert distribution_distillation_loss(student, teacher).item() == pytest.approx(
        -torch.tensor(0.75).log().item(), rel=1e-5)
    assert distribution_distillation_loss(teacher, teacher).item() == pytest.approx(0.0,
                                                                                    abs=1e-6)
    with pytest.raises(ValueError, match='student 2, teacher 3'):
        distribution_distillation_loss(student, torch.zeros(1, 3, 1, 1))


@pytest.mark.parametrize('arch', ['thermostereo_rt', 'teacher'])
def test_eval_mode_returns_the_cost_logits_on_request(arch):
    from thermostereo_ros.model import build_model
    config = dict(TINY['model'], max_disparity=48) if arch == 'thermostereo_rt' else dict(
        max_disparity=48, base_channels=8, feature_channels=16, volume_channels=8,
        refinement_channels=8)
    model = build_model(arch, config).eval()
    left, right = torch.rand(1, 1, 64, 128), torch.rand(1, 1, 64, 128)
    with torch.no_grad():
        plain = model(left, right)
        (disparity, confidence), logits = model(left, right, return_logits=True)
    torch.testing.assert_close(disparity, plain[0])
    assert logits[-1].shape == (1, 12, 16, 32)  # D/4 candidates at 1/4 resolution


def test_training_with_distribution_distillation_logs_and_records_it(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from thermostereo_ros.inference.checkpoint import load_checkpoint
    teacher = train(_config(tmp_path / 'teacher', supervision='dense'), progress=False)
    student = train(_config(tmp_path / 'student', distillation={
        'teacher': str(teacher), 'distribution_weight': 0.5}), progress=False)
    _, meta = load_checkpoint(student)
    assert meta['provenance']['distillation_distribution_weight'] == 0.5
    events = EventAccumulator(str(tmp_path / 'student' / 'tb'))
    events.Reload()
    kl = [e.value for e in events.Scalars('loss/distillation_kl')]
    assert kl and all(v > 0 for v in kl)  # two different networks: never a zero divergence
    # Training is deterministic, so the term reaching the gradient is what changes the weights.
    without = train(_config(tmp_path / 'without', distillation={'teacher': str(teacher)}),
                    progress=False)
    weights, plain = load_file(str(student)), load_file(str(without))
    assert any(not torch.equal(weights[k], plain[k]) for k in weights)


def test_parse_duration():
    assert parse_duration('2h30m') == 9000 and parse_duration('90m') == 5400
    assert parse_duration('45s') == 45 and parse_duration('12.5') == 12.5
    with pytest.raises(Exception, match='duration'):
        parse_duration('soon')


def test_time_budget_stops_with_state_and_bf16_state_resumes_close(tmp_path):
    from thermostereo_ros.training.state import load_training_state
    overrides = dict(optim={'steps': 6, 'ema_decay': 0.9}, loss={'distribution_weight': 1.0},
                     model={**TINY['model'], 'normalize_features': True},
                     log={'state_moments': 'bf16', 'checkpoint_every': 100})
    straight = train(_config(tmp_path / 'straight', **overrides), progress=False)
    state_file = tmp_path / 'kept' / 'run.safetensors'
    # A budget too small for the run: it stops early, cleanly, with its state written.
    stopped = train(_config(tmp_path / 'resumed', **overrides), progress=False,
                    time_budget_s=1.0, state_path=state_file)
    assert stopped == state_file and state_file.is_file()
    step, extra = load_training_state(state_file, *_dummy_optim(state_file))
    assert 1 <= step < 6 and extra['curve'] and extra['sessions'] == 1
    final = train(_config(tmp_path / 'resumed', **overrides), resume=True, progress=False,
                  state_path=state_file)
    a, b = load_file(str(straight)), load_file(str(final))
    # bf16 moments: the resumed run is close to the uninterrupted one, not bit-identical.
    for key in a:
        if a[key].is_floating_point():
            torch.testing.assert_close(a[key], b[key], rtol=0.05, atol=5e-3, msg=key)
    provenance = json.loads((tmp_path / 'resumed' / 'provenance.json').read_text())
    assert provenance['sessions'] == 2 and provenance['renderer_version'] == RENDERER_VERSION
    assert provenance['ema_decay'] == 0.9
    assert provenance['precision'] in ('fp32', 'bf16') and 'cpu' in provenance


def _dummy_optim(state_file):
    from thermostereo_ros.model import build_model
    model = build_model('thermostereo_rt', dict(TINY['model'], max_disparity=48,
                                                normalize_features=True))
    return model, torch.optim.AdamW(model.parameters())


def test_export_from_state_ships_the_ema_weights(tmp_path):
    from thermostereo_ros.inference.checkpoint import build_from_checkpoint
    from thermostereo_ros.training.state import load_extra_tensors
    from thermostereo_ros.training.trainer import export_state
    state = tmp_path / 'state.safetensors'
    overrides = dict(optim={'steps': 6, 'ema_decay': 0.5},
                     log={'checkpoint_every': 100})
    train(_config(tmp_path / 'run', **overrides), progress=False, stop_at=3, state_path=state)
    out = export_state(state, tmp_path / 'exported.safetensors')
    model, meta = build_from_checkpoint(str(out))
    ema = {k[len('ema.'):]: v for k, v in load_extra_tensors(state).items()}
    assert ema and meta['provenance']['steps'] == 3
    assert meta['provenance']['planned_steps'] == 6
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, ema[name], msg=name)
    raw = load_file(str(state))
    moved = [k for k in ema if ema[k].is_floating_point() and
             not torch.equal(ema[k], raw['model.' + k])]
    assert moved  # the average is not the raw weights


def test_every_shipped_training_config_loads_and_builds():
    from thermostereo_ros.model import build_model
    configs = sorted((pathlib.Path(__file__).parents[1] / 'config' / 'train').glob('*.yaml'))
    assert len(configs) >= 8
    for path in configs:
        config = load_config(path)
        assert config['optim']['steps'] > 0, path
        build_model(config['arch'], dict(config['model'], max_disparity=config['max_disparity']))


def test_a_left_out_family_is_not_trained_on(tmp_path):
    from thermostereo_ros.data import cache
    from thermostereo_ros.training.run_data import make_datasets
    root = tmp_path / 'cache'
    cache.write_cache(str(root), 6, 64, 160, 48, first_seed=0, workers=1)
    config = _config(tmp_path / 'run', data={'kind': 'cache', 'root': str(root),
                                             'exclude_families': ['street'],
                                             'supervise_sky': True},
                     log={'val_pairs': 4})
    train_set, _ = make_datasets(config)
    families = {cache.TrainingCache(str(root)).meta[i]['family'] for i in train_set.indices}
    assert families and 'street' not in families
    assert train(config, progress=False).is_file()  # two steps train on what is left


def test_init_starts_a_fresh_run_from_a_checkpoint(tmp_path):
    from thermostereo_ros.inference.checkpoint import build_from_checkpoint
    from thermostereo_ros.training.trainer import weights_digest
    first = train(_config(tmp_path / 'first'), progress=False)
    source, _ = build_from_checkpoint(str(first))
    # lr 0: the only way the second run's weights can equal the first's is to start from them.
    second = train(_config(tmp_path / 'second', init=str(first), optim={'lr': 0.0}),
                   progress=False)
    model, meta = build_from_checkpoint(str(second))
    for name, value in source.named_parameters():
        torch.testing.assert_close(dict(model.named_parameters())[name], value, msg=name)
    init = meta['provenance']['init']
    assert init['path'] == str(first) and init['digest'] == weights_digest(source)
    assert init['provenance']['steps'] == 4  # what the weights were first trained with
    fresh = train(_config(tmp_path / 'fresh', optim={'lr': 0.0}), progress=False)
    assert weights_digest(build_from_checkpoint(str(fresh))[0]) != init['digest']


def test_init_refuses_weights_of_another_model_config(tmp_path):
    from thermostereo_ros.inference.checkpoint import CheckpointError
    first = train(_config(tmp_path / 'first'), progress=False)
    other = _config(tmp_path / 'other', init=str(first), model={'normalize_features': True})
    with pytest.raises(CheckpointError, match='normalize_features'):
        train(other, progress=False)


def test_init_grows_a_shared_filter_onto_weights_without_one(tmp_path):
    from thermostereo_ros.inference.checkpoint import build_from_checkpoint, CheckpointError
    from thermostereo_ros.model import ThermoStereoRT
    from thermostereo_ros.training.trainer import init_weights
    first = train(_config(tmp_path / 'first'), progress=False)
    source, _ = build_from_checkpoint(str(first))
    model = ThermoStereoRT(**dict(source.config, shared_filter=4))
    assert init_weights(model, 'thermostereo_rt', str(first))['grown'] == ['shared_filter']
    for name, value in source.named_parameters():
        torch.testing.assert_close(dict(model.named_parameters())[name], value, msg=name)
    # The other way round would drop trained weights: refused.
    grown = _config(tmp_path / 'grown', model={'shared_filter': 4})
    second = train(grown, progress=False)
    with pytest.raises(CheckpointError, match='shared_filter'):
        init_weights(ThermoStereoRT(**source.config), 'thermostereo_rt', str(second))


def test_a_run_refuses_to_build_a_sky_head_it_cannot_train(tmp_path):
    with pytest.raises(ValueError, match='thermostereo sky-head'):
        _config(tmp_path, model={'sky_head': True})


def test_init_from_weights_with_a_sky_head_starts_without_it(tmp_path):
    from thermostereo_ros.inference.checkpoint import build_from_checkpoint, save_checkpoint
    from thermostereo_ros.model import ThermoStereoRT
    from thermostereo_ros.training.sky_head import with_sky_head
    from thermostereo_ros.training.trainer import init_weights
    first = train(_config(tmp_path / 'first'), progress=False)
    source, meta = build_from_checkpoint(str(first))
    grown = with_sky_head(source)
    path = save_checkpoint(tmp_path / 'sky.safetensors', grown, 'thermostereo_rt', grown.config,
                           meta['normalization'], meta['provenance'])
    model = ThermoStereoRT(**source.config)
    init = init_weights(model, 'thermostereo_rt', str(path))
    assert init['sky_head_dropped'] is True and model.sky is None
    for name, value in source.named_parameters():
        torch.testing.assert_close(dict(model.named_parameters())[name], value, msg=name)
    assert init_weights(model, 'thermostereo_rt', str(first))['sky_head_dropped'] is False


def test_configs_that_start_from_the_shipped_weights_match_them():
    from thermostereo_ros.model import build_model
    from thermostereo_ros.training.trainer import init_weights
    root = pathlib.Path(__file__).parents[1]
    configs = [load_config(p) for p in sorted((root / 'config' / 'train').glob('*.yaml'))]
    shipped = [c for c in configs if c['init'] and c['init'].startswith('thermostereo_ros/')]
    assert shipped  # ms2_finetune.yaml at least
    for config in shipped:
        model = build_model(config['arch'], dict(config['model'],
                                                 max_disparity=config['max_disparity']))
        init_weights(model, config['arch'], str(root / config['init']))  # raises on mismatch


def test_bf16_training_keeps_every_gradient_finite(tmp_path):
    # The refinement's dilated convolutions, 24 channels wide as in the shipped network, had
    # NaN weight gradients in channels-last bf16 (oneDNN, torch 2.13, an AVX512_BF16 EPYC; 16
    # and 32 channels did not): nothing was learnt. bf16 is emulated on CPUs without native
    # support, so this runs, more slowly, on every machine.
    from thermostereo_ros.inference.checkpoint import load_checkpoint
    path = train(_config(tmp_path / 'bf16', precision='bf16', model={'refinement_channels': 24},
                         log={'val_pairs': 0}), progress=False)
    state, meta = load_checkpoint(path)
    assert meta['provenance']['precision'] == 'bf16'
    assert meta['provenance']['skipped_steps'] == 0
    assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


def _nan_loss_for(monkeypatch, calls):
    from thermostereo_ros.training import step
    original, seen = step.multiscale_loss, []

    def loss(*args, **kwargs):
        seen.append(True)
        value = original(*args, **kwargs)
        return value * float('nan') if len(seen) <= calls else value
    monkeypatch.setattr(step, 'multiscale_loss', loss)


def test_a_step_with_a_nan_gradient_is_skipped_and_counted(tmp_path, monkeypatch):
    from thermostereo_ros.inference.checkpoint import load_checkpoint
    _nan_loss_for(monkeypatch, calls=3)
    state, meta = load_checkpoint(train(_config(tmp_path / 'run', optim={'steps': 6}),
                                        progress=False))
    assert meta['provenance']['skipped_steps'] == 3
    assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


def test_a_run_of_nan_gradients_ends_the_run_with_an_error(tmp_path, monkeypatch):
    from thermostereo_ros.training.trainer import MAX_NONFINITE_STEPS
    _nan_loss_for(monkeypatch, calls=10 ** 6)
    config = _config(tmp_path / 'run', optim={'steps': MAX_NONFINITE_STEPS + 2},
                     log={'checkpoint_every': 100})
    with pytest.raises(FloatingPointError, match='non-finite .* precision fp32'):
        train(config, progress=False)
    assert not (tmp_path / 'run' / 'final.safetensors').exists()


def test_training_threads_leave_a_core_to_each_loader_worker():
    assert training_threads(2, 1, {}) == 1
    assert training_threads(16, 4, {}) == 12
    assert training_threads(2, 0, {}) == 2
    assert training_threads(1, 3, {}) == 1  # never fewer than one
    assert training_threads(2, 1, {'OMP_NUM_THREADS': '2'}) is None  # the user's choice wins
