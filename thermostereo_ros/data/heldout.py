# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The fixed held-out synthetic test set, defined in this one place.

Training and validation must use render seeds below `TRAINING_SEED_LIMIT`; held-out pair i
of condition c uses seed `HELDOUT_SEED_BASE + 1000 * c_index + i`, far above that limit, so
no training run can render a test scene. `HELDOUT_PAIRS` pairs per condition (day, night,
rain) at 640x256 with max disparity 192.
"""

from typing import Iterator, Optional, Tuple

from thermostereo_ros.data.synthetic import CONDITIONS, render_pair, SyntheticPair

TRAINING_SEED_LIMIT = 1_000_000
HELDOUT_SEED_BASE = 9_000_000
HELDOUT_PAIRS = 20
HELDOUT_HEIGHT = 256
HELDOUT_WIDTH = 640
HELDOUT_MAX_DISPARITY = 192
# The validation pairs that training scores every checkpoint on, for choosing among runs:
# seeds just above the training seeds (data.train_seeds, 100,000 in every shipped config) and
# as many as their log.val_pairs (24), default mix, condition by seed, 640x256.
VALIDATION_FIRST_SEED = 100_000
VALIDATION_PAIRS = 24


def heldout_seeds(condition: str, count: int = HELDOUT_PAIRS) -> Tuple[int, ...]:
    """Render seeds of the held-out pairs of one condition."""
    if condition not in CONDITIONS:
        raise ValueError(f'condition {condition!r} is not one of {CONDITIONS}')
    base = HELDOUT_SEED_BASE + 1000 * CONDITIONS.index(condition)
    return tuple(range(base, base + count))


def heldout_pairs(condition: Optional[str] = None, count: int = HELDOUT_PAIRS,
                  height: int = HELDOUT_HEIGHT, width: int = HELDOUT_WIDTH
                  ) -> Iterator[SyntheticPair]:
    """Yield held-out pairs of one condition, or of all three in order when None.

    `count`, `height` and `width` exist for quick smoke tests; reported numbers use the
    defaults.
    """
    for c in ((condition,) if condition else CONDITIONS):
        for seed in heldout_seeds(c, count):
            yield render_pair(seed, height, width, HELDOUT_MAX_DISPARITY, c)


def validation_pairs(count: int = VALIDATION_PAIRS, height: int = HELDOUT_HEIGHT,
                     width: int = HELDOUT_WIDTH) -> Iterator[SyntheticPair]:
    """Yield the training runs' validation pairs, rendered as their validation renders them."""
    for seed in range(VALIDATION_FIRST_SEED, VALIDATION_FIRST_SEED + count):
        yield render_pair(seed, height, width, HELDOUT_MAX_DISPARITY,
                          CONDITIONS[seed % len(CONDITIONS)])


def assert_training_seed(seed: int) -> None:
    """Raise ValueError if a training/validation seed could collide with held-out seeds."""
    if not 0 <= int(seed) < TRAINING_SEED_LIMIT:
        raise ValueError(f'training seed {seed} outside [0, {TRAINING_SEED_LIMIT})')
