# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Everything a training run holds between steps, built from its config (and its saved state).

`open_session` places the run (device, DDP rank, threads, run folder), builds the network
and the frozen teacher, the optimizer, the exponential moving average of the weights, the
data loader, AMP and TensorBoard, and continues from a resumable state or starts from `init`
weights.
"""

import copy
from dataclasses import dataclass
import hashlib
import json
import os
import pathlib
import platform
import signal
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import torch
import torch.distributed as dist

from thermostereo_ros.inference.checkpoint import build_from_checkpoint, CheckpointError
from thermostereo_ros.inference.cpu_features import auto_cpu_precision, cpu_info
from thermostereo_ros.model import build_model
from thermostereo_ros.training.run_data import make_datasets
from thermostereo_ros.training.sampling import StepSampler
from thermostereo_ros.training.state import load_extra_tensors, load_training_state

STATE_FILE = 'state.safetensors'


@dataclass
class Session:
    """One run's live objects; `history` is what the state file keeps besides the tensors."""

    config: Dict[str, Any]
    out_dir: pathlib.Path
    state_path: pathlib.Path
    device: torch.device
    rank: int
    world_size: int
    model: torch.nn.Module
    train_model: torch.nn.Module          # the model, or its DDP wrapper
    teacher: Optional[torch.nn.Module]
    optimizer: torch.optim.Optimizer
    ema_model: Optional[torch.nn.Module]
    history: Dict[str, Any]
    start_step: int
    precision: str
    val_set: Any
    batches: Iterator[Dict[str, torch.Tensor]]
    scaler: torch.amp.GradScaler
    use_amp: bool
    writer: Any = None                    # TensorBoard's SummaryWriter on rank 0, if installed

    @property
    def distributed(self) -> bool:
        """Tell whether this run is one of several DDP processes."""
        return self.world_size > 1

    @property
    def cpu_bf16(self) -> bool:
        """Tell whether steps run under CPU bf16 autocast."""
        return self.device.type == 'cpu' and self.precision == 'bf16'

    def averaged(self) -> torch.nn.Module:
        """Return the weights that validation and the final file use (the EMA's, if kept)."""
        return self.ema_model or self.model


def open_session(config: Dict[str, Any], resume: bool,
                 state_path: Optional[pathlib.Path]) -> Session:
    """Build a run from its config; continue from `state_path` (default OUT/state) if resuming."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = select_device(config['device'], local_rank)
    threads = training_threads(available_cores(), config['data']['num_workers'], os.environ)
    if device.type == 'cpu' and threads:
        torch.set_num_threads(threads)
    if world_size > 1:
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
    model = build_model(config['arch'], dict(config['model'],
                                             max_disparity=config['max_disparity'])).to(device)
    teacher = None
    if config['distillation']['teacher']:
        teacher, _ = build_from_checkpoint(config['distillation']['teacher'],
                                           map_location=str(device))
        teacher = teacher.to(device).eval().requires_grad_(False)
    optim = config['optim']
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim['lr'],
                                  weight_decay=optim['weight_decay'])
    state_path = pathlib.Path(state_path) if state_path else out_dir / STATE_FILE
    resuming = resume and state_path.is_file()
    start_step, history = _start(config, model, optimizer, state_path, resuming)
    ema_model = _ema(model, state_path, resuming) if optim['ema_decay'] > 0 else None
    history['sessions'] += 1
    precision = resolve_precision(config, device)
    train_model = model
    if world_size > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == 'cuda' else None)
    train_set, val_set = make_datasets(config)
    sampler = StepSampler(len(train_set), optim['batch_size'], optim['steps'], start_step,
                          rank, world_size, config['seed'])
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=optim['batch_size'], sampler=sampler,
        num_workers=config['data']['num_workers'], pin_memory=device.type == 'cuda',
        persistent_workers=False, drop_last=True, worker_init_fn=_ignore_stop_signals)
    use_amp = bool(config['amp']) and device.type == 'cuda'
    return Session(config, out_dir, state_path, device, rank, world_size, model, train_model,
                   teacher, optimizer, ema_model, history, start_step, precision, val_set,
                   iter(loader), torch.amp.GradScaler('cuda', enabled=use_amp), use_amp,
                   _writer(out_dir) if rank == 0 else None)


def _start(config: Dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
           state_path: pathlib.Path, resuming: bool) -> Tuple[int, Dict[str, Any]]:
    history: Dict[str, Any] = {'curve': [], 'wall_time_s': 0.0, 'sessions': 0, 'init': None,
                               'skipped_steps': 0}
    start_step = 0
    if resuming:
        start_step, extra = load_training_state(state_path, model, optimizer)
        history.update({k: extra[k] for k in history if k in extra})
    elif config['init']:
        history['init'] = init_weights(model, config['arch'], config['init'])
    return start_step, history


def _ema(model: torch.nn.Module, state_path: pathlib.Path, resuming: bool) -> torch.nn.Module:
    ema_model = copy.deepcopy(model).eval().requires_grad_(False)
    saved = load_extra_tensors(state_path) if resuming else {}
    ema_saved = {k[len('ema.'):]: v for k, v in saved.items() if k.startswith('ema.')}
    if ema_saved:
        ema_model.load_state_dict(ema_saved)
    return ema_model


def _writer(out_dir: pathlib.Path) -> Any:
    try:
        # Imported here: TensorBoard is optional, and training still logs to the console.
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out_dir / 'tb'))


def select_device(name: str, local_rank: int) -> torch.device:
    """Return the device `name` ('auto', 'cpu', 'cuda') means for this rank."""
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError('device cuda requested but torch sees no CUDA device')
        torch.cuda.set_device(local_rank)
        return torch.device('cuda', local_rank)
    return torch.device('cpu')


def resolve_precision(config: Dict[str, Any], device: torch.device) -> str:
    """Pick the precision a run computes in: fp16 AMP on CUDA, bf16 or fp32 on the CPU."""
    if device.type == 'cuda':
        return 'fp16' if config['amp'] else 'fp32'
    if config['precision'] == 'auto':
        return auto_cpu_precision(cpu_info())
    return config['precision']


# Config keys that add a module which starts as a no-op (its output layer is zero), with the
# prefix of its weights: a run may grow one onto a checkpoint trained without it.
GROWN_MODULES = {'shared_filter': 'aggregation.shared.'}


def init_weights(model: torch.nn.Module, arch: str, path: str) -> Dict[str, Any]:
    """Load a checkpoint's weights into `model` to start a run; returns what provenance keeps.

    The checkpoint must be of the same architecture and model config (a CheckpointError
    names what differs); its own provenance is carried over, so that a fine-tuned model still
    says what it was first trained on.
    """
    source, meta = build_from_checkpoint(os.path.expanduser(path))
    if meta['arch'] != arch:
        raise CheckpointError(f'{path}: init checkpoint is a {meta["arch"]!r} network, the run '
                              f'trains a {arch!r}')
    # Same shapes are not enough: e.g. normalize_features changes what the weights mean.
    mine: Dict[str, Any] = getattr(model, 'config')
    theirs: Dict[str, Any] = source.config
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    state = source.state_dict()
    grown = [k for k in differ if k in GROWN_MODULES and not theirs.get(k)]
    differ = [k for k in differ if k not in grown]
    dropped = differ == ['sky_head'] and theirs['sky_head']  # and so not the model's
    if dropped:
        # A sky head reads the features it was trained on (frozen); a run that changes them
        # starts without it, and `thermostereo sky-head` trains a new one afterwards.
        state = {k: v for k, v in state.items() if not k.startswith('sky.')}
    elif differ:
        what = ', '.join(f'{k}: {theirs.get(k)!r} there, {mine.get(k)!r} here'
                         for k in differ)
        raise CheckpointError(f'{path}: init checkpoint has another model config ({what})')
    loaded = model.load_state_dict(state, strict=not grown)
    new_modules = tuple(GROWN_MODULES[k] for k in grown)
    lacking = [k for k in loaded.missing_keys if not k.startswith(new_modules)]
    if lacking or loaded.unexpected_keys:
        raise CheckpointError(f'{path}: init checkpoint does not fit: it lacks {lacking[:5]} '
                              f'and has extra {loaded.unexpected_keys[:5]}')
    return {'path': str(path), 'digest': weights_digest(source),
            'provenance': meta.get('provenance', {}), 'sky_head_dropped': bool(dropped),
            'grown': grown}


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
    spins its OpenMP threads against the loader, several times slower on 2 cores
    (docs/TRAINING.md).
    """
    if env.get('OMP_NUM_THREADS'):
        return None
    return max(1, cpu_count - max(0, num_workers))


def _ignore_stop_signals(worker_id: int) -> None:
    # Ctrl-C and `pkill` reach the loader workers too; were they to die, PyTorch would raise
    # in the main process before it could save its state. The main process stops them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def hardware_name(device: torch.device) -> str:
    """Return the GPU's name, or the CPU's and the thread count, for provenance."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads'
