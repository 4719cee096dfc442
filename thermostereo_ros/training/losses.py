# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Training losses: multi-scale supervised smooth-L1 and the dense distillation term.

Every prediction the network returns in training mode is at input resolution (coarse to fine),
so one masked smooth-L1 serves every scale; later scales weigh more because the final output is
what users get.
"""

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F


def scale_weights(count: int, final_weight: float = 1.0, decay: float = 0.7) -> List[float]:
    """Weights for `count` predictions ordered coarse to fine: the final one gets the most."""
    return [final_weight * decay ** (count - 1 - i) for i in range(count)]


def masked_smooth_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                     weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean smooth-L1 over masked pixels (optionally weighted); zero when the mask is empty."""
    prediction = prediction.reshape(target.shape)
    loss = F.smooth_l1_loss(prediction, target, reduction='none')
    mask = mask.to(loss.dtype)
    if weight is not None:
        mask = mask * weight.reshape(mask.shape).to(loss.dtype)
    # Normalising by the mask's sum keeps the scale independent of GT density (sparse LiDAR
    # gives ~5 % of the pixels, dense GT ~90 %), so lambda means the same in both regimes.
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


def multiscale_loss(predictions: Sequence[torch.Tensor], target: torch.Tensor,
                    mask: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Weighted sum of masked smooth-L1 over all scales' predictions."""
    weights = scale_weights(len(predictions))
    total = predictions[-1].new_zeros(())
    for w, prediction in zip(weights, predictions):
        total = total + w * masked_smooth_l1(prediction, target, mask, weight)
    return total


def distillation_loss(predictions: Sequence[torch.Tensor], teacher_disparity: torch.Tensor,
                      teacher_confidence: torch.Tensor, max_disparity: float) -> torch.Tensor:
    """Dense term against a frozen teacher, weighted by the teacher's confidence.

    Confidence (the peak probability of the teacher's disparity distribution) down-weights the
    pixels where the teacher itself is unsure: occlusions, textureless sky and road, image
    borders. A left-right check would need a second teacher pass per step; confidence is free.
    """
    target = teacher_disparity.detach()
    mask = (target > 0) & (target < max_disparity)
    return multiscale_loss(predictions, target, mask, teacher_confidence.detach())


def distribution_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                      temperature: float = 0.5) -> torch.Tensor:
    """Cross-entropy of 1/4-resolution cost logits against a unimodal target distribution.

    Supervising the whole distribution, not only its soft-argmin, is AcfNet's idea (unimodal
    cost-volume filtering): the target is softmax(-|d - gt / 4| / temperature) over the D/4
    candidates, at the centre pixel of every 4x4 block of the full-resolution ground truth.
    """
    stride = 4
    gt = target[..., stride // 2::stride, stride // 2::stride] / stride
    valid = mask[..., stride // 2::stride, stride // 2::stride]
    h, w = min(gt.shape[-2], logits.shape[-2]), min(gt.shape[-1], logits.shape[-1])
    gt, valid = gt[..., :h, :w], valid[..., :h, :w]
    logits = logits[..., :h, :w].float()
    candidates = torch.arange(logits.shape[1], device=logits.device,
                              dtype=logits.dtype).view(1, -1, 1, 1)
    wanted = torch.softmax(-(candidates - gt.reshape(gt.shape[0], 1, h, w)).abs()
                           / temperature, dim=1)
    ce = -(wanted * torch.log_softmax(logits, dim=1)).sum(1)
    valid = valid.reshape(ce.shape).to(ce.dtype)
    return (ce * valid).sum() / valid.sum().clamp_min(1.0)


def distribution_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                                   temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) of the 1/4-resolution disparity distributions, per pixel.

    The teacher's whole distribution over the D/4 candidates carries more than its soft-argmin
    (Hinton et al.'s soft targets): a second mode at a repetitive texture, a flat one in the
    sky. Both networks must score the same candidates. Scaled by temperature**2, as usual, so
    that its gradient does not shrink as the temperature grows.
    """
    if student_logits.shape[1] != teacher_logits.shape[1]:
        raise ValueError(f'distribution distillation needs the same disparity candidates: '
                         f'student {student_logits.shape[1]}, teacher {teacher_logits.shape[1]}'
                         f' (max_disparity / 4)')
    h = min(student_logits.shape[-2], teacher_logits.shape[-2])
    w = min(student_logits.shape[-1], teacher_logits.shape[-1])
    student = torch.log_softmax(student_logits[..., :h, :w].float() / temperature, dim=1)
    teacher = torch.log_softmax(teacher_logits[..., :h, :w].detach().float() / temperature,
                                dim=1)
    kl = torch.nn.functional.kl_div(student, teacher, reduction='none', log_target=True)
    return kl.sum(1).mean() * temperature ** 2
