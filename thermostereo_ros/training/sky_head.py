# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Train a student's sky head on frozen weights, from the training cache's sky masks.

Everything but the head stays frozen and in eval mode, so away from the pixels the head calls
sky the network's output is exactly that of the weights it starts from: the head can be added
to shipped weights without retraining them, and judged on its own. Labels: the renderer's sky
mask (1) against pixels with a surface in the search range (0); the rest is not scored.
"""

from dataclasses import asdict, dataclass
import functools
import os
import time
from typing import Any, cast, Dict, Iterable, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from thermostereo_ros.data import augment as aug
from thermostereo_ros.data.datasets import CachedStereoDataset
from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.inference.cpu_features import cpu_info
from thermostereo_ros.model import build_model
from thermostereo_ros.model.sky import SkyHead
from thermostereo_ros.model.student import ThermoStereoRT
from thermostereo_ros.training.trainer import available_cores, training_threads


# Near enough that a hole there may be an obstacle missed: on the renderer's rigs (fx 300-800
# px, baselines 0.12-0.5 m; docs/DATA.md) 32 px of disparity is 1.1 to 12.5 m away.
NEAR_DISPARITY = 32.0


@dataclass(frozen=True)
class SkyRecipe:
    """How the head is trained: AdamW with a cosine from `lr`, random crops of cached pairs."""

    steps: int = 3000
    batch_size: int = 8
    crop: Tuple[int, int] = (160, 384)
    lr: float = 2e-3
    seed: int = 0
    # Data-loading processes (forked). 0 in a process that has loaded OpenVINO or another
    # runtime with its own thread pool: forking one of those can crash the child.
    workers: int = 1


def with_sky_head(model: ThermoStereoRT) -> ThermoStereoRT:
    """Return a copy of a ThermoStereoRT with a new, untrained sky head and the same weights."""
    if getattr(model, 'sky', None) is not None:
        raise ValueError('this network already has a sky head')
    grown = cast(ThermoStereoRT,
                 build_model('thermostereo_rt', dict(model.config, sky_head=True)))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not name.startswith('sky.') for name in missing):
        raise ValueError(f'weights do not fit: missing {missing}, unexpected {unexpected}')
    return grown


def _head(model: ThermoStereoRT) -> SkyHead:
    if model.sky is None:
        raise ValueError('this network has no sky head (with_sky_head adds one)')
    return model.sky


def sky_labels(disparity: torch.Tensor, valid_dense: torch.Tensor
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(target, scored) from a sky-supervised sample: sky is valid GT at exactly 0."""
    scored = valid_dense.bool()
    return (scored & (disparity == 0)).float(), scored


def train_sky_head(model: ThermoStereoRT, cache_root: str, recipe: SkyRecipe = SkyRecipe(),
                   log_every: int = 100) -> Dict[str, Any]:
    """Train `model.sky` in place on the cache at `cache_root`; returns the run's provenance."""
    torch.manual_seed(recipe.seed)
    threads = training_threads(available_cores(), recipe.workers, os.environ)
    if threads:  # as `thermostereo train`: a core for each loader worker (docs/TRAINING.md)
        torch.set_num_threads(threads)
    head = _head(model)
    model.eval().requires_grad_(False)
    head.train().requires_grad_(True)
    # No flips: a flip swaps the views and warps the masks through the disparity, which
    # drops the sky (disparity 0) from them.
    dataset = CachedStereoDataset(
        cache_root, model.max_disparity, supervise_sky=True,
        augment=functools.partial(aug.augment, crop_size=(recipe.crop[0], recipe.crop[1]),
                                  flip_prob=0.0))
    frame = (int(dataset.cache.manifest['height']), int(dataset.cache.manifest['width']))
    if recipe.crop[0] > frame[0] or recipe.crop[1] > frame[1]:
        raise ValueError(f'crop {recipe.crop[1]}x{recipe.crop[0]} is larger than the cached '
                         f'frames ({frame[1]}x{frame[0]}) of {cache_root}')
    if len(dataset) < recipe.batch_size:
        raise ValueError(f'{cache_root}: {len(dataset)} cached pairs, fewer than a batch of '
                         f'{recipe.batch_size}')
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=recipe.batch_size, shuffle=True, drop_last=True,
        num_workers=recipe.workers, generator=torch.Generator().manual_seed(recipe.seed))
    optimizer = torch.optim.AdamW(head.parameters(), lr=recipe.lr, weight_decay=1e-4)
    started, step, losses = time.monotonic(), 0, []
    while step < recipe.steps:
        for batch in loader:
            if step >= recipe.steps:
                break
            for group in optimizer.param_groups:
                group['lr'] = 0.5 * recipe.lr * (1 + np.cos(np.pi * step / recipe.steps))
            target, scored = sky_labels(batch['disparity'][:, None], batch['valid_dense'][:, None])
            logits = model.sky_logits(batch['left'])
            loss = F.binary_cross_entropy_with_logits(logits[scored], target[scored])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
            if log_every and step % log_every == 0:
                print(f'sky head step {step}/{recipe.steps}: loss '
                      f'{np.mean(losses[-log_every:]):.4f}', flush=True)
    model.eval()
    return dict(asdict(recipe), crop=list(recipe.crop), cache=str(cache_root),
                seconds=round(time.monotonic() - started, 1), threads=torch.get_num_threads(),
                # The head's own machine: the checkpoint's `cpu` is the backbone's run.
                cpu=cpu_info().summary(),
                final_loss=float(np.mean(losses[-min(len(losses), 50):])))


@torch.no_grad()
def fold_threshold(model: ThermoStereoRT, threshold: float) -> None:
    """Make the head call sky where its logit exceeds `threshold` instead of 0, in place.

    The network calls sky where the logit is positive. Subtracting the threshold from the
    last layer's bias moves that decision without a parameter anywhere else: the 4x bilinear
    upsampling after it is a weighted mean, so it carries the shift through unchanged.
    """
    bias = _head(model).logit.bias
    assert bias is not None, 'the logit layer is built with a bias'
    bias -= float(threshold)


@torch.no_grad()
def sky_sweep(model: ThermoStereoRT, pairs: Iterable, thresholds: Sequence[float] = (0.0,)
              ) -> List[Dict[str, float]]:
    """Score a head at each logit threshold, over rendered pairs.

    Per threshold: sky recall, and the share of surface pixels called sky, overall and among
    near ones (GT disparity NEAR_DISPARITY px or more).
    """
    counts = np.zeros((len(thresholds), 3))  # sky, surface, near surface: called sky
    totals = np.zeros(3)
    for pair in pairs:
        left, _ = normalize_pair(pair.left, pair.right, mode='joint')
        logits = model.sky_logits(torch.from_numpy(left)[None, None])[0, 0].numpy()
        gt = pair.disparity
        surface = ~pair.sky & (gt > 0) & (gt < model.max_disparity)
        near = surface & (gt >= NEAR_DISPARITY)
        totals += (pair.sky.sum(), surface.sum(), near.sum())
        for row, threshold in enumerate(thresholds):
            called = logits > threshold
            counts[row] += ((pair.sky & called).sum(), (surface & called).sum(),
                            (near & called).sum())
    rates = counts / np.maximum(totals, 1)
    return [dict(threshold=float(t), sky_recall=float(r[0]), surface_called_sky=float(r[1]),
                 near_surface_called_sky=float(r[2]), sky_pixels=int(totals[0]),
                 surface_pixels=int(totals[1]), near_surface_pixels=int(totals[2]))
            for t, r in zip(thresholds, rates)]


def sky_scores(model: ThermoStereoRT, pairs: Iterable) -> Dict[str, float]:
    """Sky recall and the share of surface pixels called sky, as the network decides."""
    scores = sky_sweep(model, pairs)[0]
    del scores['threshold']  # 0 on the folded head, which would read as the head's threshold
    return scores
