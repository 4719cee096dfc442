# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The training loop for teacher and student, single process or DDP under torchrun.

AdamW, warm-up + cosine schedule, AMP on CUDA, gradient clipping, resumable safetensors state
and TensorBoard scalars.

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
import time
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist

from thermostereo_ros.training.losses import distillation_loss, multiscale_loss
from thermostereo_ros.training.state import load_training_state, save_training_state

STATE_FILE = 'state.safetensors'
FINAL_FILE = 'final.safetensors'


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
    if data['kind'] == 'synthetic':
        n_train = int(data['train_seeds'])
        n_val = int(config['log']['val_pairs'])
        # Validation seeds sit just above the training seeds and below the held-out range.
        if n_train + n_val > TRAINING_SEED_LIMIT:
            raise ValueError('training + validation seeds would reach the held-out test seeds')
        common = dict(height=data['height'], width=data['width'],
                      max_disparity=config['max_disparity'], conditions=data['conditions'])
        train = datasets.SyntheticStereoDataset(
            seeds=range(n_train), augment=data['augment'], crop=crop, **common)
        val = datasets.SyntheticStereoDataset(
            seeds=range(n_train, n_train + n_val), augment=False, crop=None, **common)
        return train, val
    if data['kind'] == 'ms2':
        if not data['root']:
            raise ValueError('data.kind ms2 needs data.root (the MS2 dataset folder)')
        train = datasets.MS2StereoDataset(data['root'], data['split'], augment=data['augment'],
                                          crop=crop, max_disparity=config['max_disparity'])
        val = datasets.MS2StereoDataset(data['root'], 'val', augment=False, crop=None,
                                        max_disparity=config['max_disparity'])
        return train, val
    raise ValueError(f"data.kind must be 'synthetic' or 'ms2', got {data['kind']!r}")


def _colourise(disparity: torch.Tensor, max_disparity: float) -> torch.Tensor:
    grey = (disparity.float().clamp(0, max_disparity) / max_disparity).cpu()
    return grey.reshape(1, *grey.shape[-2:])


@torch.no_grad()
def _validate(model, val_set, device, max_disparity: float) -> Dict[str, float]:
    from thermostereo_ros.evaluation.metrics import MetricAccumulator
    model.eval()
    acc = MetricAccumulator(max_disparity=max_disparity)
    for i in range(len(val_set)):
        sample = val_set[i]
        left = torch.as_tensor(sample['left'])[None].to(device)
        right = torch.as_tensor(sample['right'])[None].to(device)
        disparity, _ = model(left, right)
        gt = np.asarray(sample['disparity'])
        acc.update(disparity[0, 0].float().cpu().numpy(), gt,
                   mask=np.asarray(sample['valid_dense']))
    model.train()
    return acc.result()


def train(config: Dict[str, Any], resume: bool = False, progress: bool = True,
          stop_at: Optional[int] = None) -> pathlib.Path:
    """Run one training job; returns the path of the final student/teacher checkpoint.

    `stop_at` ends the run after that step with its state saved (a time-boxed run to continue
    later with `resume=True`); the schedule still follows `optim.steps`.
    """
    from thermostereo_ros.inference.checkpoint import build_from_checkpoint, save_checkpoint
    from thermostereo_ros.model import build_model

    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = _select_device(config['device'], local_rank)
    distributed = world_size > 1
    if distributed:
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    out_dir = pathlib.Path(config['log']['out_dir'])
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
    state_path = out_dir / STATE_FILE
    if resume and state_path.is_file():
        start_step, _ = load_training_state(state_path, model, optimizer)
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
        persistent_workers=False, drop_last=True)

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
    model.train()
    end_step = optim['steps'] if stop_at is None else min(stop_at, optim['steps'])
    for step in range(start_step, end_step):
        batch = next(iterator)
        lr = _learning_rate(step, optim)
        for group in optimizer.param_groups:
            group['lr'] = lr
        left = batch['left'].to(device, non_blocking=True)
        right = batch['right'].to(device, non_blocking=True)
        target = batch['disparity'].to(device, non_blocking=True)
        mask = batch['valid_sparse' if sparse else 'valid_dense'].to(device, non_blocking=True)
        mask = mask & (target > 0) & (target < max_disparity)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            predictions = train_model(left, right)
            supervised = multiscale_loss(predictions, target, mask)
            loss = supervised
            distilled = torch.zeros(())
            if teacher is not None:
                with torch.no_grad():
                    teacher_disp, teacher_conf = teacher(left, right)
                distilled = distillation_loss(predictions, teacher_disp, teacher_conf,
                                              max_disparity)
                loss = loss + config['distillation']['weight'] * distilled
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), optim['grad_clip'])
        scaler.step(optimizer)
        scaler.update()
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f'{loss.item():.3f}')
        if writer is not None and done % log['log_every'] == 0:
            writer.add_scalar('loss/total', loss.item(), done)
            writer.add_scalar('loss/supervised', supervised.item(), done)
            writer.add_scalar('loss/distillation', float(distilled), done)
            writer.add_scalar('train/lr', lr, done)
            writer.add_scalar('train/grad_norm', float(grad_norm), done)
            with torch.no_grad():
                final = predictions[-1].reshape(target.shape)
                epe = ((final - target).abs() * mask).sum() / mask.sum().clamp_min(1)
            writer.add_scalar('train/epe_supervised_pixels', epe.item(), done)
        if writer is not None and done % log['image_every'] == 0:
            writer.add_image('disparity/prediction',
                             _colourise(predictions[-1][0].detach(), max_disparity), done)
        if done % log['checkpoint_every'] == 0 or done == end_step:
            if rank == 0:
                save_training_state(state_path, model, optimizer, done, {'config': config})
                if val_set is not None and len(val_set):
                    metrics = _validate(model, val_set, device, max_disparity)
                    if writer is not None:
                        for key in ('epe', 'd1'):
                            writer.add_scalar(f'val/{key}', metrics[key], done)
    if bar is not None:
        bar.close()
    if end_step < optim['steps']:
        if distributed:
            dist.destroy_process_group()
        return state_path
    wall = time.monotonic() - started
    final_path = out_dir / FINAL_FILE
    if rank == 0:
        metrics = _validate(model, val_set, device, max_disparity) if len(val_set) else {}
        provenance = {
            'data': config['data']['kind'], 'supervision': config['supervision'],
            'teacher': config['distillation']['teacher'],
            'distillation_weight': config['distillation']['weight'],
            'steps': optim['steps'], 'batch_size': optim['batch_size'],
            'world_size': world_size, 'wall_time_s': round(wall, 1),
            'hardware': _hardware(device), 'validation': metrics,
            'seed': config['seed'],
        }
        save_checkpoint(final_path, model, arch=config['arch'], config=model.config,
                        normalization={'mode': 'joint', 'low': 1.0, 'high': 99.0},
                        provenance=provenance)
        (out_dir / 'provenance.json').write_text(json.dumps(provenance, indent=2))
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


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 over the model's learned parameters (BatchNorm running stats are per rank)."""
    digest = hashlib.sha256()
    for name, value in model.named_parameters():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _hardware(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads'
