# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The order of a run's samples and its learning-rate schedule, both pure functions of the step.

So that a run resumed at step n sees exactly the batches and rates an uninterrupted one would.
"""

import math
from typing import Any, Dict, Iterator, Tuple

import numpy as np
import torch


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


def learning_rate(step: int, optim: Dict[str, Any]) -> float:
    """Return the rate of `step`: linear warm-up, then a cosine down to 5 % of the peak."""
    warmup, steps, lr = optim['warmup_steps'], optim['steps'], optim['lr']
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))
