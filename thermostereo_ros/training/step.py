# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One optimisation step: the losses of a batch, the update, and the weights' moving average."""

from dataclasses import dataclass
from typing import Any, Dict, List

import torch

from thermostereo_ros.training.losses import (distillation_loss,
                                              distribution_distillation_loss, distribution_loss,
                                              multiscale_loss)
from thermostereo_ros.training.session import Session


@dataclass
class StepResult:
    """What logging needs from a step."""

    loss: torch.Tensor
    supervised: torch.Tensor
    distilled: torch.Tensor
    distilled_kl: torch.Tensor
    predictions: List[torch.Tensor]
    target: torch.Tensor
    mask: torch.Tensor
    grad_norm: torch.Tensor
    stepped: bool             # False: the gradient was not finite and the weights stay


def batch_on_device(session: Session, batch: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """Move a batch to the run's device; `mask` is the supervised GT in [0, max_disparity)."""
    device, config = session.device, session.config
    sparse = config['supervision'] == 'sparse'
    target = batch['disparity'].to(device, non_blocking=True)
    mask = batch['valid_sparse' if sparse else 'valid_dense'].to(device, non_blocking=True)
    # The datasets already keep only GT in (0, max_disparity), and sky at exactly 0 where it
    # is supervised; this guards against anything else.
    mask = mask & (target >= 0) & (target < config['max_disparity'])
    return {'left': batch['left'].to(device, non_blocking=True),
            'right': batch['right'].to(device, non_blocking=True),
            'target': target, 'mask': mask}


def losses(session: Session, left: torch.Tensor, right: torch.Tensor, target: torch.Tensor,
           mask: torch.Tensor) -> Dict[str, Any]:
    """Return the batch's total loss and its parts, computed under the run's autocast."""
    config = session.config
    loss_config, kd = config['loss'], config['distillation']
    use_distribution = loss_config['distribution_weight'] > 0
    kd_distribution = session.teacher is not None and kd['distribution_weight'] > 0
    with torch.autocast(session.device.type,
                        dtype=torch.bfloat16 if session.cpu_bf16 else torch.float16,
                        enabled=session.use_amp or session.cpu_bf16):
        if use_distribution or kd_distribution:
            predictions, logits = session.train_model(left, right, return_logits=True)
        else:
            predictions = session.train_model(left, right)
        supervised = multiscale_loss(predictions, target, mask)
        loss = supervised
        if use_distribution:
            for weight, level in zip((0.5, 1.0), logits):
                loss = loss + loss_config['distribution_weight'] * weight * distribution_loss(
                    level, target, mask, loss_config['distribution_temperature'])
        distilled = distilled_kl = torch.zeros(())
        if session.teacher is not None:
            with torch.no_grad():
                if kd_distribution:
                    (teacher_disp, teacher_conf), teacher_logits = session.teacher(
                        left, right, return_logits=True)
                else:
                    teacher_disp, teacher_conf = session.teacher(left, right)
            distilled = distillation_loss(predictions, teacher_disp, teacher_conf,
                                          config['max_disparity'])
            loss = loss + kd['weight'] * distilled
            if kd_distribution:
                distilled_kl = distribution_distillation_loss(
                    logits[-1], teacher_logits[-1], kd['distribution_temperature'])
                loss = loss + kd['distribution_weight'] * distilled_kl
    return {'loss': loss, 'supervised': supervised, 'distilled': distilled,
            'distilled_kl': distilled_kl, 'predictions': predictions}


def apply_gradients(session: Session, loss: torch.Tensor) -> Any:
    """Back-propagate, clip and step; return (gradient norm, whether the weights moved)."""
    optimizer, scaler = session.optimizer, session.scaler
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(session.model.parameters(),
                                               session.config['optim']['grad_clip'])
    if session.use_amp:
        # The scaler skips a non-finite step itself (and lowers its scale), without the host
        # sync that testing the norm here would add to every CUDA step.
        scaler.step(optimizer)
        scaler.update()
        return grad_norm, True
    stepped = bool(torch.isfinite(grad_norm))
    if stepped:
        optimizer.step()
    return grad_norm, stepped


def update_average(session: Session, step: int) -> None:
    """Move the moving average of the weights toward the current ones."""
    if session.ema_model is None:
        return
    # Warm-up (as in timm's ModelEmaV2 / TF's num_updates): early on the average would
    # otherwise be mostly the random initial weights.
    decay = min(float(session.config['optim']['ema_decay']), (2.0 + step) / (11.0 + step))
    with torch.no_grad():
        for average, current in zip(session.ema_model.state_dict().values(),
                                    session.model.state_dict().values()):
            if average.is_floating_point():
                average.mul_(decay).add_(current.detach(), alpha=1 - decay)
            else:
                average.copy_(current)


def train_step(session: Session, batch: Dict[str, torch.Tensor], lr: float) -> StepResult:
    """Run one step at learning rate `lr`: losses, update, moving average."""
    for group in session.optimizer.param_groups:
        group['lr'] = lr
    inputs = batch_on_device(session, batch)
    parts = losses(session, **inputs)
    grad_norm, stepped = apply_gradients(session, parts['loss'])
    return StepResult(parts['loss'], parts['supervised'], parts['distilled'],
                      parts['distilled_kl'], parts['predictions'], inputs['target'],
                      inputs['mask'], grad_norm, stepped)
