# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The training loop for teacher and student, single process or DDP under torchrun.

AdamW, warm-up + cosine schedule, AMP on CUDA, bf16 autocast on CPUs that compute bf16
natively, gradient clipping, resumable safetensors state, a time budget, TensorBoard scalars
and a learning curve (validation EPE and D1 per checkpoint) kept inside the state file.
The run's objects are built by session.py, each step by step.py.

Teacher and student share this loop. The teacher learns from dense synthetic ground truth;
the student from sparse LiDAR-like ground truth plus, when a teacher checkpoint is configured,
a dense confidence-weighted distillation term against the frozen teacher.
"""

import json
import pathlib
import signal
import threading
import time
from typing import Any, Dict, List, Optional

import numpy as np
from safetensors import safe_open
import torch
import torch.distributed as dist
from tqdm import tqdm

from thermostereo_ros.evaluation.metrics import MetricAccumulator
from thermostereo_ros.inference.checkpoint import save_checkpoint
from thermostereo_ros.inference.cpu_features import cpu_info
from thermostereo_ros.model import build_model
from thermostereo_ros.training.curve import plot_curve
from thermostereo_ros.training.run_data import data_name, renderer_version
from thermostereo_ros.training.sampling import learning_rate
from thermostereo_ros.training.session import (  # noqa: F401 (the trainer's public names)
    available_cores, hardware_name, init_weights, open_session, resolve_precision, Session,
    STATE_FILE, training_threads, weights_digest)
from thermostereo_ros.training.state import (load_extra_tensors, load_training_state,
                                             save_training_state)
from thermostereo_ros.training.step import StepResult, train_step, update_average

FINAL_FILE = 'final.safetensors'
CURVE_FILE = 'curve.json'
# Time kept free before a budget ends, for the last validation pass and state write: 1.5x
# the last measured checkpoint, or this much before the first one.
_BUDGET_MARGIN_S = 60.0
# A step whose gradient is not finite is skipped (the weights and their average stay as they
# were); this many in a row end the run with an error instead of training on nothing.
MAX_NONFINITE_STEPS = 10


def train(config: Dict[str, Any], resume: bool = False, progress: bool = True,
          stop_at: Optional[int] = None, time_budget_s: Optional[float] = None,
          state_path: Optional[pathlib.Path] = None) -> pathlib.Path:
    """Run one training job; returns the final checkpoint's path, or the state's if it stopped.

    `stop_at` ends the run after that step with its state saved (a time-boxed run to continue
    later with `resume=True`); the schedule still follows `optim.steps`. `time_budget_s` ends
    it likewise before that many seconds have passed. `state_path` (default OUT/state) is
    where resumable state is written and read, e.g. a file kept in git for the next machine.
    """
    session = open_session(config, resume, state_path)
    optim = session.config['optim']
    end_step = optim['steps'] if stop_at is None else min(stop_at, optim['steps'])
    clock = _Clock(time.monotonic(), time_budget_s)
    bar = _progress_bar(session, progress)
    # SIGTERM (a supervisor, `kill`) or SIGINT (Ctrl-C) ends the run after the current step
    # with its state saved, so stopping a long run never loses more than one step.
    stop_requested: List[bool] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop_requested.append(True))
    nonfinite_run, failure = 0, None
    for step in range(session.start_step, end_step):
        step_started = time.monotonic()
        lr = learning_rate(step, optim)
        result = train_step(session, next(session.batches), lr)
        if result.stepped:
            nonfinite_run = 0
            update_average(session, step)
        else:
            session.history['skipped_steps'] += 1
            nonfinite_run += 1
            if nonfinite_run >= MAX_NONFINITE_STEPS:
                failure = _nonfinite_message(session.model, nonfinite_run, session.precision,
                                             done=step)
                break
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f'{result.loss.item():.3f}')
        _log_step(session, result, lr, done)
        clock.step_times.append(time.monotonic() - step_started)
        out_of_time = bool(stop_requested) or clock.out_of_time()
        if done % session.config['log']['checkpoint_every'] == 0 or done == end_step or \
                out_of_time:
            _checkpoint(session, done, clock)
        if out_of_time:
            end_step = done
            break
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    if bar is not None:
        bar.close()
    if failure is not None:
        _leave_group(session)
        raise FloatingPointError(failure)
    session.history['wall_time_s'] += time.monotonic() - clock.started
    if end_step < optim['steps']:
        _leave_group(session)
        return session.state_path
    return _finish(session)


class _Clock:
    """The run's time: when it started, each step's duration, each checkpoint's, the budget."""

    def __init__(self, started: float, budget_s: Optional[float]) -> None:
        self.started, self.budget_s = started, budget_s
        self.step_times: List[float] = []
        self.checkpoint_times: List[float] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def out_of_time(self) -> bool:
        """Tell whether one more step and a checkpoint would pass the budget."""
        if self.budget_s is None:
            return False
        margin = 1.5 * self.checkpoint_times[-1] if self.checkpoint_times else _BUDGET_MARGIN_S
        return self.elapsed() + 2 * max(self.step_times[-20:]) + margin > self.budget_s


def _progress_bar(session: Session, progress: bool) -> Any:
    if not progress or session.rank != 0:
        return None
    return tqdm(total=session.config['optim']['steps'], initial=session.start_step,
                desc=session.out_dir.name, unit='step')


def _log_step(session: Session, result: StepResult, lr: float, done: int) -> None:
    writer, log = session.writer, session.config['log']
    if writer is None:
        return
    if done % log['log_every'] == 0:
        writer.add_scalar('loss/total', result.loss.item(), done)
        writer.add_scalar('loss/supervised', result.supervised.item(), done)
        writer.add_scalar('loss/distillation', float(result.distilled.detach()), done)
        if session.teacher is not None and \
                session.config['distillation']['distribution_weight'] > 0:
            writer.add_scalar('loss/distillation_kl', float(result.distilled_kl.detach()),
                              done)
        writer.add_scalar('train/lr', lr, done)
        writer.add_scalar('train/grad_norm', float(result.grad_norm), done)
        writer.add_scalar('train/skipped_steps', session.history['skipped_steps'], done)
        with torch.no_grad():
            final = result.predictions[-1].reshape(result.target.shape)
            mask = result.mask
            epe = ((final - result.target).abs() * mask).sum() / mask.sum().clamp_min(1)
        writer.add_scalar('train/epe_supervised_pixels', epe.item(), done)
    if done % log['image_every'] == 0:
        writer.add_image('disparity/prediction', _colourise(
            result.predictions[-1][0].detach(), session.config['max_disparity']), done)


def _checkpoint(session: Session, done: int, clock: _Clock) -> None:
    """Validate (rank 0), extend the learning curve and write the resumable state."""
    if session.rank != 0:
        return
    started = time.monotonic()
    history, out_dir = session.history, session.out_dir
    if session.val_set is not None and len(session.val_set):
        metrics = _validate(session.averaged(), session.val_set, session.device,
                            session.config['max_disparity'], session.precision)
        history['curve'].append({'step': done, 'epe': round(metrics['epe'], 4),
                                 'd1': round(metrics['d1'], 3),
                                 'wall_time_s': round(history['wall_time_s'] +
                                                      clock.elapsed(), 1)})
        (out_dir / CURVE_FILE).write_text(json.dumps(history['curve'], indent=1))
        plot_curve(history['curve'], str(out_dir / 'curve.png'), out_dir.name)
        if session.writer is not None:
            for key in ('epe', 'd1'):
                session.writer.add_scalar(f'val/{key}', metrics[key], done)
    extra = dict(history, wall_time_s=history['wall_time_s'] + clock.elapsed(),
                 config=session.config, precision=session.precision,
                 hardware=hardware_name(session.device), cpu=cpu_info().summary())
    moments = session.config['log']['state_moments']
    ema = session.ema_model
    save_training_state(session.state_path, session.model, session.optimizer, done, extra,
                        moments_dtype=torch.bfloat16 if moments == 'bf16' else torch.float32,
                        tensors_extra=({'ema.' + k: v for k, v in ema.state_dict().items()}
                                       if ema is not None else None))
    clock.checkpoint_times.append(time.monotonic() - started)


def _finish(session: Session) -> pathlib.Path:
    """Write the final checkpoint with its provenance (rank 0); DDP ranks compare weights."""
    config, history, out_dir = session.config, session.history, session.out_dir
    final_path = out_dir / FINAL_FILE
    if session.rank == 0:
        shipped = session.averaged()
        metrics = _validate(shipped, session.val_set, session.device, config['max_disparity'],
                            session.precision) if len(session.val_set) else {}
        provenance = dict(
            _provenance(config), init=history['init'],
            ema_decay=float(config['optim']['ema_decay']),
            world_size=session.world_size, wall_time_s=round(history['wall_time_s'], 1),
            sessions=history['sessions'], precision=session.precision,
            skipped_steps=history['skipped_steps'], hardware=hardware_name(session.device),
            cpu=cpu_info().summary(), validation=metrics)
        save_checkpoint(final_path, shipped, arch=config['arch'],
                        config=getattr(session.model, 'config'),
                        normalization={'mode': 'joint', 'low': 1.0, 'high': 99.0},
                        provenance=provenance)
        (out_dir / 'provenance.json').write_text(json.dumps(provenance, indent=2))
        (out_dir / CURVE_FILE).write_text(json.dumps(history['curve'], indent=1))
        if session.writer is not None:
            session.writer.close()
    if session.distributed:
        # Every rank reports a digest of its final weights: DDP must leave them identical, and
        # rank 0 records them so a test (or a user) can check that it did.
        digests = [None] * session.world_size
        dist.all_gather_object(digests, weights_digest(session.model))
        if session.rank == 0:
            (out_dir / 'rank_digests.json').write_text(json.dumps(digests))
        dist.barrier()
    _leave_group(session)
    return final_path


def _provenance(config: Dict[str, Any]) -> Dict[str, Any]:
    """Return what a checkpoint says about the data, losses and schedule that made it."""
    return {'data': data_name(config), 'data_source': config['data']['kind'],
            'supervision': config['supervision'],
            'renderer_version': renderer_version(config),
            'teacher': config['distillation']['teacher'],
            'distillation_weight': config['distillation']['weight'],
            'distillation_distribution_weight': config['distillation']['distribution_weight'],
            'loss': config['loss'], 'steps': config['optim']['steps'],
            'batch_size': config['optim']['batch_size'], 'crop': config['data']['crop'],
            'seed': config['seed']}


def _leave_group(session: Session) -> None:
    if session.distributed:
        dist.destroy_process_group()


def _colourise(disparity: torch.Tensor, max_disparity: float) -> torch.Tensor:
    grey = (disparity.float().clamp(0, max_disparity) / max_disparity).cpu()
    return grey.reshape(1, *grey.shape[-2:])


@torch.no_grad()
def _validate(model: torch.nn.Module, val_set: Any, device: torch.device, max_disparity: float,
              precision: str = 'fp32') -> Dict[str, float]:
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


def export_state(state_path: pathlib.Path, out_path: pathlib.Path) -> pathlib.Path:
    """Write a checkpoint from a run's resumable state (its EMA weights when it has them).

    For shipping a run that is still in progress: provenance records the steps done so far,
    the planned steps and the validation curve.
    """
    state_path = pathlib.Path(state_path)
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
        'data': data_name(config), 'data_source': config['data']['kind'],
        'supervision': config['supervision'],
        'renderer_version': renderer_version(config),
        'teacher': config['distillation']['teacher'], 'loss': config['loss'],
        'init': extra.get('init'), 'steps': step, 'planned_steps': config['optim']['steps'],
        'batch_size': config['optim']['batch_size'], 'crop': config['data']['crop'],
        'ema_decay': config['optim']['ema_decay'] if ema else 0.0,
        'wall_time_s': round(float(extra.get('wall_time_s', 0.0)), 1),
        'sessions': extra.get('sessions'), 'precision': extra.get('precision'),
        # States written before these were recorded: the exporting machine's (same run).
        'hardware': extra.get('hardware') or hardware_name(torch.device('cpu')),
        'cpu': extra.get('cpu') or cpu_info().summary(),
        'validation': curve[-1] if curve else {}, 'seed': config['seed'],
    }
    save_checkpoint(out_path, model.eval(), arch=config['arch'], config=getattr(model, 'config'),
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
