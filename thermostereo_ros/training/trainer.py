# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The training loop for teacher and student, single process or DDP under torchrun.

AdamW, warm-up + cosine schedule, AMP on CUDA, bf16 autocast on CPUs that compute bf16
natively, gradient clipping, resumable safetensors state, a time budget, TensorBoard scalars
and a learning curve (validation EPE and D1 per checkpoint) kept inside the state file.

Teacher and student share this loop. The teacher learns from dense synthetic ground truth;
the student from sparse LiDAR-like ground truth plus, when a teacher checkpoint is configured,
a dense confidence-weighted distillation term against the frozen teacher.
"""

import hashlib
import json
import math
import os
import pathlib
import platform
import signal
import time
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist

from thermostereo_ros.inference.cpu_features import auto_cpu_precision, cpu_info
from thermostereo_ros.training.losses import (distillation_loss,
                                              distribution_distillation_loss, distribution_loss,
                                              multiscale_loss)
from thermostereo_ros.training.curve import plot_curve
from thermostereo_ros.training.state import (load_extra_tensors, load_training_state,
                                             save_training_state)

STATE_FILE = 'state.safetensors'
FINAL_FILE = 'final.safetensors'
CURVE_FILE = 'curve.json'
# Time kept free before a budget ends, for the last validation pass and state write: 1.5x
# the last measured checkpoint, or this much before the first one.
_BUDGET_MARGIN_S = 60.0
# A step whose gradient is not finite is skipped (the weights and their average stay as they
# were); this many in a row end the run with an error instead of training on nothing.
MAX_NONFINITE_STEPS = 10


class StepSampler(torch.utils.data.Sampler):
    """Deterministic, resumable, rank-disjoint sample order.

    Sample n of the run (n counts over all ranks) is position n % len of epoch n // len's
    permutation, and its augmentation seed is derived from n, so resuming at a step reproduces
    the exact batches an uninterrupted run sees.
    """

    def __init__(self, length: int, batch_size: int, steps: int, start_step: int,
                 rank: int, world_size: int, seed: int):
        self.length, self.batch_size, self.steps = length, batch_size, steps
        self.start_step, self.rank, self.world_size, self.seed = (
            start_step, rank, world_size, seed)
        self._perms: Dict[int, np.ndarray] = {}

    def _index(self, n: int) -> int:
        epoch, pos = divmod(n, self.length)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng(self.seed + epoch).permutation(
                self.length)}
        return int(self._perms[epoch][pos])

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        global_batch = self.batch_size * self.world_size
        for step in range(self.start_step, self.steps):
            first = step * global_batch + self.rank * self.batch_size
            for i in range(self.batch_size):
                n = first + i
                yield self._index(n), (self.seed << 32) + n

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.batch_size


def _learning_rate(step: int, optim: Dict[str, Any]) -> float:
    warmup, steps, lr = optim['warmup_steps'], optim['steps'], optim['lr']
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def _select_device(name: str, local_rank: int) -> torch.device:
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError('device cuda requested but torch sees no CUDA device')
        torch.cuda.set_device(local_rank)
        return torch.device('cuda', local_rank)
    return torch.device('cpu')


def _make_datasets(config: Dict[str, Any]):
    from thermostereo_ros.data import datasets
    from thermostereo_ros.data.heldout import TRAINING_SEED_LIMIT
    data = config['data']
    crop = tuple(data['crop']) if data['crop'] else None
    if data['kind'] in ('synthetic', 'cache'):
        n_train = int(data['train_seeds'])
        n_val = int(config['log']['val_pairs'])
        # Validation seeds sit just above the training seeds and below the held-out range.
        if n_train + n_val > TRAINING_SEED_LIMIT:
            raise ValueError('training + validation seeds would reach the held-out test seeds')
        mix = data['mix']
        if data['exclude_families']:  # also out of validation: nothing is selected on them
            from thermostereo_ros.data.synthetic import DEFAULT_MIX
            mix = {f: (0.0 if f in data['exclude_families'] else w)
                   for f, w in (mix or DEFAULT_MIX).items()}
        common = dict(height=data['height'], width=data['width'],
                      max_disparity=config['max_disparity'], conditions=data['conditions'],
                      mix=mix, version=data['renderer_version'])
        if data['kind'] == 'cache':
            if not data['root']:
                raise ValueError('data.kind cache needs data.root (a `synth --cache` folder)')
            train = datasets.CachedStereoDataset(data['root'], config['max_disparity'],
                                                 augment=data['augment'], crop=crop,
                                                 supervise_sky=data['supervise_sky'],
                                                 exclude_families=data['exclude_families'])
            cached = train.cache.version
            if common['version'] is None:
                common['version'] = cached      # validate on what the cache was rendered by
            elif common['version'] != cached:
                raise ValueError(f"data.renderer_version {common['version']} but the cache "
                                 f"{data['root']} was rendered by v{cached}")
        else:
            train = datasets.SyntheticStereoDataset(
                seeds=range(n_train), augment=data['augment'], crop=crop, **common)
        val = datasets.SyntheticStereoDataset(
            seeds=range(n_train, n_train + n_val), augment=False, crop=None, **common)
        # Rendered once: validation then costs only the forward passes.
        return train, [val[i] for i in range(len(val))]
    if data['kind'] == 'ms2':
        if not data['root']:
            raise ValueError('data.kind ms2 needs data.root (the MS2 dataset folder)')
        train = datasets.MS2StereoDataset(data['root'], data['split'], augment=data['augment'],
                                          crop=crop, max_disparity=config['max_disparity'])
        val = datasets.MS2StereoDataset(data['root'], 'val', augment=False, crop=None,
                                        max_disparity=config['max_disparity'])
        return train, val
    raise ValueError(f"data.kind must be 'synthetic', 'cache' or 'ms2', got {data['kind']!r}")


def _colourise(disparity: torch.Tensor, max_disparity: float) -> torch.Tensor:
    grey = (disparity.float().clamp(0, max_disparity) / max_disparity).cpu()
    return grey.reshape(1, *grey.shape[-2:])


def resolve_precision(config: Dict[str, Any], device: torch.device) -> str:
    """Pick the precision a run computes in: fp16 AMP on CUDA, bf16 or fp32 on the CPU."""
    if device.type == 'cuda':
        return 'fp16' if config['amp'] else 'fp32'
    if config['precision'] == 'auto':
        return auto_cpu_precision(cpu_info())
    return config['precision']


@torch.no_grad()
def _validate(model, val_set, device, max_disparity: float,
              precision: str = 'fp32') -> Dict[str, float]:
    from thermostereo_ros.evaluation.metrics import MetricAccumulator
    model.eval()
    acc = MetricAccumulator(max_disparity=max_disparity)
    for i in range(len(val_set)):
        sample = val_set[i]
        left = torch.as_tensor(sample['left'])[None].to(device)
        right = torch.as_tensor(sample['right'])[None].to(device)
        with torch.autocast('cpu', dtype=torch.bfloat16,
                            enabled=precision == 'bf16' and device.type == 'cpu'):
            disparity, _ = model(left, right)
        gt = np.asarray(sample['disparity'])
        acc.update(disparity[0, 0].float().cpu().numpy(), gt,
                   mask=np.asarray(sample['valid_dense']))
    model.train()
    return acc.result()


def train(config: Dict[str, Any], resume: bool = False, progress: bool = True,
          stop_at: Optional[int] = None, time_budget_s: Optional[float] = None,
          state_path: Optional[pathlib.Path] = None) -> pathlib.Path:
    """Run one training job; returns the path of the final student/teacher checkpoint.

    `stop_at` ends the run after that step with its state saved (a time-boxed run to continue
    later with `resume=True`); the schedule still follows `optim.steps`. `time_budget_s` ends
    it likewise before that many seconds have passed. `state_path` (default OUT/state) is
    where resumable state is written and read, e.g. a file kept in git for the next machine.
    """
    from thermostereo_ros.inference.checkpoint import build_from_checkpoint, save_checkpoint
    from thermostereo_ros.model import build_model

    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = _select_device(config['device'], local_rank)
    threads = training_threads(available_cores(), config['data']['num_workers'], os.environ)
    if device.type == 'cpu' and threads:
        torch.set_num_threads(threads)
    distributed = world_size > 1
    if distributed:
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    # Runs live outside the work tree (e.g. ~/.cache/thermostereo/runs): expand the user.
    out_dir = pathlib.Path(config['log']['out_dir']).expanduser()
    if config['data']['root']:
        config = dict(config, data=dict(config['data'],
                                        root=os.path.expanduser(config['data']['root'])))
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / 'config.json').write_text(json.dumps(config, indent=2))

    torch.manual_seed(config['seed'])  # same initial weights on every rank
    max_disparity = config['max_disparity']
    model_config = dict(config['model'], max_disparity=max_disparity)
    model = build_model(config['arch'], model_config).to(device)
    teacher = None
    if config['distillation']['teacher']:
        teacher, _ = build_from_checkpoint(config['distillation']['teacher'],
                                           map_location=str(device))
        teacher = teacher.to(device).eval().requires_grad_(False)

    optim = config['optim']
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim['lr'],
                                  weight_decay=optim['weight_decay'])
    start_step = 0
    state_path = pathlib.Path(state_path) if state_path else out_dir / STATE_FILE
    history: Dict[str, Any] = {'curve': [], 'wall_time_s': 0.0, 'sessions': 0, 'init': None,
                               'skipped_steps': 0}
    ema_decay = float(optim['ema_decay'])
    ema_model = None
    if resume and state_path.is_file():
        start_step, extra = load_training_state(state_path, model, optimizer)
        history.update({k: extra[k] for k in history if k in extra})
    elif config['init']:
        history['init'] = init_weights(model, config['arch'], config['init'])
    if ema_decay > 0:
        import copy
        ema_model = copy.deepcopy(model).eval().requires_grad_(False)
        saved = load_extra_tensors(state_path) if resume and state_path.is_file() else {}
        ema_saved = {k[len('ema.'):]: v for k, v in saved.items() if k.startswith('ema.')}
        if ema_saved:
            ema_model.load_state_dict(ema_saved)
    history['sessions'] += 1
    precision = resolve_precision(config, device)
    # CPU bf16 trains in NCHW, not channels-last: with torch 2.13 on an AVX512_BF16 CPU,
    # oneDNN's channels-last bf16 weight gradient of a 24-channel dilated convolution (the
    # refinement's dilation-2 convolutions) is NaN from the first step, and NCHW was no slower
    # (docs/history/TRAINING_NOTEBOOK.md). Inference keeps channels-last.
    train_model = model
    if distributed:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == 'cuda' else None)

    train_set, val_set = _make_datasets(config)
    sampler = StepSampler(len(train_set), optim['batch_size'], optim['steps'], start_step,
                          rank, world_size, config['seed'])
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=optim['batch_size'], sampler=sampler,
        num_workers=config['data']['num_workers'], pin_memory=device.type == 'cuda',
        persistent_workers=False, drop_last=True, worker_init_fn=_ignore_stop_signals)

    use_amp = bool(config['amp']) and device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=use_amp)
    writer = None
    if rank == 0:
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out_dir / 'tb'))
        except ImportError:  # TensorBoard is optional: training still logs to the console
            writer = None
    iterator = iter(loader)
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm
        bar = tqdm(total=optim['steps'], initial=start_step, desc=out_dir.name, unit='step')
    log = config['log']
    started = time.monotonic()
    sparse = config['supervision'] == 'sparse'
    loss_config = config['loss']
    use_distribution = loss_config['distribution_weight'] > 0
    kd_distribution = teacher is not None and config['distillation']['distribution_weight'] > 0
    cpu_bf16 = device.type == 'cpu' and precision == 'bf16'
    model.train()
    end_step = optim['steps'] if stop_at is None else min(stop_at, optim['steps'])
    step_times = []
    checkpoint_seconds = []

    def checkpoint(done: int) -> None:
        if rank != 0:
            return
        checkpoint_started = time.monotonic()
        if val_set is not None and len(val_set):
            metrics = _validate(ema_model or model, val_set, device, max_disparity, precision)
            history['curve'].append({'step': done, 'epe': round(metrics['epe'], 4),
                                     'd1': round(metrics['d1'], 3),
                                     'wall_time_s': round(history['wall_time_s'] +
                                                          time.monotonic() - started, 1)})
            (out_dir / CURVE_FILE).write_text(json.dumps(history['curve'], indent=1))
            plot_curve(history['curve'], str(out_dir / 'curve.png'), out_dir.name)
            if writer is not None:
                for key in ('epe', 'd1'):
                    writer.add_scalar(f'val/{key}', metrics[key], done)
        extra = dict(history, wall_time_s=history['wall_time_s'] + time.monotonic() - started,
                     config=config, precision=precision, hardware=_hardware(device),
                     cpu=cpu_info().summary())
        save_training_state(state_path, model, optimizer, done, extra,
                            moments_dtype=(torch.bfloat16 if log['state_moments'] == 'bf16'
                                           else torch.float32),
                            tensors_extra=({'ema.' + k: v for k, v in
                                            ema_model.state_dict().items()}
                                           if ema_model is not None else None))
        checkpoint_seconds.append(time.monotonic() - checkpoint_started)

    # SIGTERM (a supervisor, `kill`) or SIGINT (Ctrl-C) ends the run after the current step
    # with its state saved, so stopping a long run never loses more than one step.
    stop_requested = []
    previous = {}
    if threading_main():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop_requested.append(True))
    nonfinite_run, failure = 0, None
    for step in range(start_step, end_step):
        step_started = time.monotonic()
        batch = next(iterator)
        lr = _learning_rate(step, optim)
        for group in optimizer.param_groups:
            group['lr'] = lr
        left = batch['left'].to(device, non_blocking=True)
        right = batch['right'].to(device, non_blocking=True)
        target = batch['disparity'].to(device, non_blocking=True)
        mask = batch['valid_sparse' if sparse else 'valid_dense'].to(device, non_blocking=True)
        # The datasets already keep only GT in (0, max_disparity), and sky at exactly 0
        # where it is supervised; this guards against anything else.
        mask = mask & (target >= 0) & (target < max_disparity)
        with torch.autocast(device.type, dtype=torch.bfloat16 if cpu_bf16 else torch.float16,
                            enabled=use_amp or cpu_bf16):
            if use_distribution or kd_distribution:
                predictions, logits = train_model(left, right, return_logits=True)
            else:
                predictions = train_model(left, right)
            supervised = multiscale_loss(predictions, target, mask)
            loss = supervised
            if use_distribution:
                for weight, level in zip((0.5, 1.0), logits):
                    loss = loss + loss_config['distribution_weight'] * weight * \
                        distribution_loss(level, target, mask,
                                          loss_config['distribution_temperature'])
            distilled = distilled_kl = torch.zeros(())
            if teacher is not None:
                with torch.no_grad():
                    if kd_distribution:
                        (teacher_disp, teacher_conf), teacher_logits = teacher(
                            left, right, return_logits=True)
                    else:
                        teacher_disp, teacher_conf = teacher(left, right)
                distilled = distillation_loss(predictions, teacher_disp, teacher_conf,
                                              max_disparity)
                loss = loss + config['distillation']['weight'] * distilled
                if kd_distribution:
                    distilled_kl = distribution_distillation_loss(
                        logits[-1], teacher_logits[-1],
                        config['distillation']['distribution_temperature'])
                    loss = loss + config['distillation']['distribution_weight'] * distilled_kl
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), optim['grad_clip'])
        if use_amp:
            # The scaler skips a non-finite step itself (and lowers its scale), without the
            # host sync that testing the norm here would add to every CUDA step.
            scaler.step(optimizer)
            scaler.update()
            stepped = True
        else:
            stepped = bool(torch.isfinite(grad_norm))
            if stepped:
                optimizer.step()
        if stepped:
            nonfinite_run = 0
        else:
            history['skipped_steps'] += 1
            nonfinite_run += 1
            if nonfinite_run >= MAX_NONFINITE_STEPS:
                failure = _nonfinite_message(model, nonfinite_run, precision, done=step)
                break
        if ema_model is not None and stepped:
            # Warm-up (as in timm's ModelEmaV2 / TF's num_updates): early on the average
            # would otherwise be mostly the random initial weights.
            decay = min(ema_decay, (2.0 + step) / (11.0 + step))
            with torch.no_grad():
                for average, current in zip(ema_model.state_dict().values(),
                                            model.state_dict().values()):
                    if average.is_floating_point():
                        average.mul_(decay).add_(current.detach(), alpha=1 - decay)
                    else:
                        average.copy_(current)
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f'{loss.item():.3f}')
        if writer is not None and done % log['log_every'] == 0:
            writer.add_scalar('loss/total', loss.item(), done)
            writer.add_scalar('loss/supervised', supervised.item(), done)
            writer.add_scalar('loss/distillation', float(distilled.detach()), done)
            if kd_distribution:
                writer.add_scalar('loss/distillation_kl', float(distilled_kl.detach()), done)
            writer.add_scalar('train/lr', lr, done)
            writer.add_scalar('train/grad_norm', float(grad_norm), done)
            writer.add_scalar('train/skipped_steps', history['skipped_steps'], done)
            with torch.no_grad():
                final = predictions[-1].reshape(target.shape)
                epe = ((final - target).abs() * mask).sum() / mask.sum().clamp_min(1)
            writer.add_scalar('train/epe_supervised_pixels', epe.item(), done)
        if writer is not None and done % log['image_every'] == 0:
            writer.add_image('disparity/prediction',
                             _colourise(predictions[-1][0].detach(), max_disparity), done)
        step_times.append(time.monotonic() - step_started)
        margin = 1.5 * checkpoint_seconds[-1] if checkpoint_seconds else _BUDGET_MARGIN_S
        out_of_time = bool(stop_requested) or (
            time_budget_s is not None and time.monotonic() - started +
            2 * max(step_times[-20:]) + margin > time_budget_s)
        if done % log['checkpoint_every'] == 0 or done == end_step or out_of_time:
            checkpoint(done)
        if out_of_time:
            end_step = done
            break
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    if bar is not None:
        bar.close()
    if failure is not None:
        if distributed:
            dist.destroy_process_group()
        raise FloatingPointError(failure)
    history['wall_time_s'] += time.monotonic() - started
    if end_step < optim['steps']:
        if distributed:
            dist.destroy_process_group()
        return state_path
    final_path = out_dir / FINAL_FILE
    if rank == 0:
        shipped = ema_model or model
        metrics = _validate(shipped, val_set, device, max_disparity, precision) \
            if len(val_set) else {}
        provenance = {
            'data': _data_name(config), 'data_source': config['data']['kind'],
            'supervision': config['supervision'],
            'renderer_version': _renderer_version(config),
            'teacher': config['distillation']['teacher'],
            'distillation_weight': config['distillation']['weight'],
            'distillation_distribution_weight': config['distillation']['distribution_weight'],
            'init': history['init'],
            'loss': config['loss'],
            'steps': optim['steps'], 'batch_size': optim['batch_size'],
            'crop': config['data']['crop'], 'ema_decay': ema_decay,
            'world_size': world_size, 'wall_time_s': round(history['wall_time_s'], 1),
            'sessions': history['sessions'], 'precision': precision,
            'skipped_steps': history['skipped_steps'],
            'hardware': _hardware(device), 'cpu': cpu_info().summary(),
            'validation': metrics, 'seed': config['seed'],
        }
        save_checkpoint(final_path, shipped, arch=config['arch'], config=model.config,
                        normalization={'mode': 'joint', 'low': 1.0, 'high': 99.0},
                        provenance=provenance)
        (out_dir / 'provenance.json').write_text(json.dumps(provenance, indent=2))
        (out_dir / CURVE_FILE).write_text(json.dumps(history['curve'], indent=1))
        if writer is not None:
            writer.close()
    if distributed:
        # Every rank reports a digest of its final weights: DDP must leave them identical, and
        # rank 0 records them so a test (or a user) can check that it did.
        digests = [None] * world_size
        dist.all_gather_object(digests, weights_digest(model))
        if rank == 0:
            (out_dir / 'rank_digests.json').write_text(json.dumps(digests))
        dist.barrier()
        dist.destroy_process_group()
    return final_path


def init_weights(model: torch.nn.Module, arch: str, path: str) -> Dict[str, Any]:
    """Load a checkpoint's weights into `model` to start a run; returns what provenance keeps.

    The checkpoint must be of the same architecture and model config (a CheckpointError
    names what differs); its own provenance is carried over, so that a fine-tuned model still
    says what it was first trained on.
    """
    from thermostereo_ros.inference.checkpoint import CheckpointError, build_from_checkpoint

    source, meta = build_from_checkpoint(os.path.expanduser(path))
    if meta['arch'] != arch:
        raise CheckpointError(f'{path}: init checkpoint is a {meta["arch"]!r} network, the run '
                              f'trains a {arch!r}')
    # Same shapes are not enough: e.g. normalize_features changes what the weights mean.
    differ = sorted(k for k in set(model.config) | set(source.config)
                    if model.config.get(k) != source.config.get(k))
    state = source.state_dict()
    dropped = differ == ['sky_head'] and source.config['sky_head']  # and so not the model's
    if dropped:
        # A sky head reads the features it was trained on (frozen); a run that changes them
        # starts without it, and `thermostereo sky-head` trains a new one afterwards.
        state = {k: v for k, v in state.items() if not k.startswith('sky.')}
    elif differ:
        what = ', '.join(f'{k}: {source.config.get(k)!r} there, {model.config.get(k)!r} here'
                         for k in differ)
        raise CheckpointError(f'{path}: init checkpoint has another model config ({what})')
    model.load_state_dict(state)
    return {'path': str(path), 'digest': weights_digest(source),
            'provenance': meta.get('provenance', {}), 'sky_head_dropped': bool(dropped)}


def export_state(state_path: pathlib.Path, out_path: pathlib.Path) -> pathlib.Path:
    """Write a checkpoint from a run's resumable state (its EMA weights when it has them).

    For shipping a run that is still in progress: provenance records the steps done so far,
    the planned steps and the validation curve.
    """
    from thermostereo_ros.inference.checkpoint import save_checkpoint
    from thermostereo_ros.model import build_model

    state_path = pathlib.Path(state_path)
    from safetensors import safe_open
    with safe_open(str(state_path), framework='pt') as handle:
        meta = json.loads((handle.metadata() or {})['thermostereo_training_state'])
    extra = meta['extra']
    config = extra['config']
    model = build_model(config['arch'], dict(config['model'],
                                             max_disparity=config['max_disparity']))
    optimizer = torch.optim.AdamW(model.parameters())
    step, _ = load_training_state(state_path, model, optimizer)
    ema = {k[len('ema.'):]: v for k, v in load_extra_tensors(state_path).items()
           if k.startswith('ema.')}
    if ema:
        model.load_state_dict(ema)
    curve = extra.get('curve', [])
    provenance = {
        'data': _data_name(config), 'data_source': config['data']['kind'],
        'supervision': config['supervision'],
        'renderer_version': _renderer_version(config),
        'teacher': config['distillation']['teacher'], 'loss': config['loss'],
        'init': extra.get('init'), 'steps': step, 'planned_steps': config['optim']['steps'],
        'batch_size': config['optim']['batch_size'], 'crop': config['data']['crop'],
        'ema_decay': config['optim']['ema_decay'] if ema else 0.0,
        'wall_time_s': round(float(extra.get('wall_time_s', 0.0)), 1),
        'sessions': extra.get('sessions'), 'precision': extra.get('precision'),
        # States written before these were recorded: the exporting machine's (same run).
        'hardware': extra.get('hardware') or _hardware(torch.device('cpu')),
        'cpu': extra.get('cpu') or cpu_info().summary(),
        'validation': curve[-1] if curve else {}, 'seed': config['seed'],
    }
    save_checkpoint(out_path, model.eval(), arch=config['arch'], config=model.config,
                    normalization={'mode': 'joint', 'low': 1.0, 'high': 99.0},
                    provenance=provenance)
    return pathlib.Path(out_path)


def _nonfinite_message(model: torch.nn.Module, run: int, precision: str, done: int) -> str:
    names = [name for name, p in model.named_parameters()
             if p.grad is not None and not torch.isfinite(p.grad).all()]
    return (f'{run} steps in a row (to step {done + 1}) had a non-finite loss or gradient, '
            f'precision {precision}; non-finite gradients in {len(names)} parameters, first '
            f'{names[:3]}. The weights were not updated by them and the last saved state is '
            f'intact: try precision fp32, or a lower learning rate')


def _ignore_stop_signals(worker_id: int) -> None:
    # Ctrl-C and `pkill` reach the loader workers too; were they to die, PyTorch would raise
    # in the main process before it could save its state. The main process stops them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _renderer_version(config: Dict[str, Any]) -> Optional[int]:
    """Return the renderer version of a run's data (None: MS2, or a cache no longer on disk)."""
    from thermostereo_ros.data.cache import MANIFEST
    from thermostereo_ros.data.synthetic import RENDERER_VERSION

    data = config['data']
    if data['kind'] == 'ms2':
        return None
    if data['renderer_version'] is not None:
        return int(data['renderer_version'])
    if data['kind'] == 'cache':
        manifest = pathlib.Path(str(data['root'])).expanduser() / MANIFEST
        if not manifest.is_file():
            return None
        return json.loads(manifest.read_text()).get('renderer_version')
    return RENDERER_VERSION


def _data_name(config: Dict[str, Any]) -> str:
    """'synthetic' for rendered data (on the fly or from a cache), else the data kind."""
    return 'synthetic' if config['data']['kind'] in ('synthetic', 'cache') else \
        config['data']['kind']


def threading_main() -> bool:
    """Tell whether this is the main thread, the only one that may set signal handlers."""
    import threading
    return threading.current_thread() is threading.main_thread()


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 over the model's learned parameters (BatchNorm running stats are per rank)."""
    digest = hashlib.sha256()
    for name, value in model.named_parameters():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def available_cores() -> int:
    """Return the CPU cores this process may run on (its affinity where the OS has one)."""
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def training_threads(cpu_count: int, num_workers: int, env: Mapping[str, str]) -> Optional[int]:
    """Return the CPU threads to train with, or None where OMP_NUM_THREADS already says.

    One core is left to each data-loader worker. Torch's default (one thread per core)
    spins its OpenMP threads against the loader: on a 2-core Xeon with one worker, two threads
    made 0.23-0.35 steps/s against 1.49 with one (docs/TRAINING.md).
    """
    if env.get('OMP_NUM_THREADS'):
        return None
    return max(1, cpu_count - max(0, num_workers))


def _hardware(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads'
