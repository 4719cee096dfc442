# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Adapt a trained student to a user's own cameras from their footage alone, without GT.

Self-supervision: the right image warped by the predicted disparity must look like the left
one (SSIM and L1), the disparity is smooth where the image is, and an anchor keeps the
prediction near the starting network's, so a few hundred pairs of one rig cannot unlearn
what the network knew. Only the aggregation and the refinement learn; the encoder and the
sky head stay frozen (so the sky head keeps reading the features it was trained on), and
every BatchNorm keeps its statistics (small batches of one scene would skew them).
"""

import copy
from dataclasses import asdict, dataclass
import time
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from thermostereo_ros.model.student import ThermoStereoRT

# What adapts; everything else is frozen.
ADAPTED_MODULES = ('aggregation', 'refinement')


@dataclass(frozen=True)
class AdaptRecipe:
    """How a network is adapted: steps of Adam on random crops of the user's pairs."""

    steps: int = 600
    batch_size: int = 2
    crop: Tuple[int, int] = (192, 448)
    lr: float = 2e-5
    smoothness_weight: float = 0.02
    # Per px of disparity away from the starting network's prediction, against the
    # photometric loss's [0, 1] scale.
    anchor_weight: float = 0.01
    seed: int = 0
    max_seconds: float = 1800.0


def warp_right_to_left(right: torch.Tensor, disparity: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sample the right image at x - d for every left pixel; returns it and the in-frame mask."""
    _, _, height, width = right.shape
    ys, xs = torch.meshgrid(torch.arange(height, dtype=right.dtype),
                            torch.arange(width, dtype=right.dtype), indexing='ij')
    x_src = xs[None, None] - disparity
    grid = torch.stack([2.0 * x_src / max(width - 1, 1) - 1.0,
                        (2.0 * ys / max(height - 1, 1) - 1.0).expand_as(x_src)], -1)[:, 0]
    warped = F.grid_sample(right, grid, mode='bilinear', padding_mode='border',
                           align_corners=True)
    return warped, (x_src >= 0).to(right.dtype)


def ssim_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel (1 - SSIM) / 2 over 3x3 windows, in [0, 1]."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = F.avg_pool2d(a, 3, 1, 1), F.avg_pool2d(b, 3, 1, 1)
    var_a = F.avg_pool2d(a * a, 3, 1, 1) - mu_a ** 2
    var_b = F.avg_pool2d(b * b, 3, 1, 1) - mu_b ** 2
    cov = F.avg_pool2d(a * b, 3, 1, 1) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / \
        ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return ((1.0 - ssim) / 2.0).clamp(0.0, 1.0)


def photometric_loss(left: torch.Tensor, right: torch.Tensor, disparity: torch.Tensor
                     ) -> torch.Tensor:
    """Mean of 0.85 SSIM distance + 0.15 L1 between left and the warped right, in frame."""
    warped, in_frame = warp_right_to_left(right, disparity)
    error = 0.85 * ssim_distance(left, warped) + 0.15 * (left - warped).abs()
    return (error * in_frame).sum() / in_frame.sum().clamp(min=1.0)


def smoothness_loss(disparity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Edge-aware first-order smoothness of the mean-normalised disparity."""
    d = disparity / disparity.mean((2, 3), keepdim=True).clamp(min=1e-3)
    dx, dy = (d[..., :, 1:] - d[..., :, :-1]).abs(), (d[..., 1:, :] - d[..., :-1, :]).abs()
    ix = (image[..., :, 1:] - image[..., :, :-1]).abs()
    iy = (image[..., 1:, :] - image[..., :-1, :]).abs()
    return (dx * torch.exp(-10.0 * ix)).mean() + (dy * torch.exp(-10.0 * iy)).mean()


def prepare(model: ThermoStereoRT) -> List[torch.nn.Parameter]:
    """Freeze all but ADAPTED_MODULES, BatchNorm statistics included; returns what learns."""
    model.eval().requires_grad_(False)
    learned = []
    for name in ADAPTED_MODULES:
        module = getattr(model, name)
        if module is None:
            continue
        module.requires_grad_(True)
        learned += [p for p in module.parameters()]
    return learned


def _crops(pairs: Sequence[Tuple[np.ndarray, np.ndarray]], recipe: AdaptRecipe,
           rng: np.random.Generator) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    height, width = pairs[0][0].shape
    ch, cw = min(recipe.crop[0], height), min(recipe.crop[1], width)
    while True:
        picks = rng.integers(0, len(pairs), recipe.batch_size)
        lefts, rights = [], []
        for k in picks:
            y, x = int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))
            lefts.append(pairs[k][0][y:y + ch, x:x + cw])
            rights.append(pairs[k][1][y:y + ch, x:x + cw])
        yield (torch.from_numpy(np.stack(lefts))[:, None],
               torch.from_numpy(np.stack(rights))[:, None])


def adapt(model: ThermoStereoRT, pairs: Sequence[Tuple[np.ndarray, np.ndarray]],
          recipe: AdaptRecipe = AdaptRecipe(), log_every: int = 50) -> Dict[str, Any]:
    """Adapt `model` in place on normalised float32 (left, right) pairs; returns provenance.

    Stops after `recipe.steps` or `recipe.max_seconds`, whichever comes first.
    """
    if not pairs:
        raise ValueError('adaptation needs at least one stereo pair')
    torch.manual_seed(recipe.seed)
    anchor = copy.deepcopy(model).eval().requires_grad_(False)
    learned = prepare(model)
    optimizer = torch.optim.Adam(learned, lr=recipe.lr)
    rng = np.random.default_rng(recipe.seed)
    started, losses, step = time.monotonic(), [], 0
    for left, right in _crops(pairs, recipe, rng):
        if step >= recipe.steps or time.monotonic() - started > recipe.max_seconds:
            break
        with torch.no_grad():
            reference = anchor(left, right)[0]
        disparity = model(left, right)[0]
        photometric = photometric_loss(left, right, disparity)
        loss = (photometric + recipe.smoothness_weight * smoothness_loss(disparity, left)
                + recipe.anchor_weight * (disparity - reference).abs().mean())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append((float(loss.detach()), float(photometric.detach())))
        step += 1
        if log_every and step % log_every == 0:
            recent = np.mean(losses[-log_every:], 0)
            print(f'adapt step {step}/{recipe.steps}: loss {recent[0]:.4f} '
                  f'(photometric {recent[1]:.4f})', flush=True)
    model.eval()
    tail = np.mean(losses[-min(len(losses), 50):], 0) if losses else (np.nan, np.nan)
    return dict(asdict(recipe), crop=list(recipe.crop), steps_done=step, pairs=len(pairs),
                seconds=round(time.monotonic() - started, 1), final_loss=float(tail[0]),
                final_photometric=float(tail[1]), adapted=list(ADAPTED_MODULES))
