# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The fixed held-out and validation sets, one per renderer version, defined in this one place.

Training and validation must use render seeds below `TRAINING_SEED_LIMIT`; held-out pair i
of condition c uses seed `base + 1000 * c_index + i` with a base far above that limit, so no
training run can render a test scene. `HELDOUT_PAIRS` pairs per condition (day, night, rain)
at 640x256 with max disparity 192.

Each set pins its renderer version and its scene-family mix here, not through the renderer's
defaults, so that a renderer change cannot move a set silently: a new renderer gets new sets
(`heldout_v3`, `validation_v3`) and the old ones (`heldout_v2`, `validation_v2`) stay as they
were. `test/test_data_heldout.py` checks a fingerprint of the first pairs of each set.
"""

from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple

from thermostereo_ros.data.synthetic import CONDITIONS, render_pair, SyntheticPair

TRAINING_SEED_LIMIT = 1_000_000
HELDOUT_SEED_BASE = 9_000_000
HELDOUT_PAIRS = 20
HELDOUT_HEIGHT = 256
HELDOUT_WIDTH = 640
HELDOUT_MAX_DISPARITY = 192
# The validation pairs that training scores every checkpoint on, for choosing among runs:
# seeds just above the training seeds (data.train_seeds, 100,000 in every shipped config) and
# as many as their log.val_pairs (24), condition by seed, 640x256, rendered by the version of
# the run's data (validation_v2 and validation_v3 share the seeds, not the scenes).
VALIDATION_FIRST_SEED = 100_000
VALIDATION_PAIRS = 24


@dataclass(frozen=True)
class PairSet:
    """A named, versioned set of rendered pairs."""

    name: str
    version: int
    mix: Tuple[Tuple[str, float], ...]
    first_seed: int
    validation: bool


# The v2 mix is written out (not DEFAULT_MIX), so that changing the default cannot move v2.
_MIX_V2 = (('street', 0.45), ('indoor', 0.2), ('flying', 0.35))
_MIX_V3 = (('street', 0.5), ('indoor', 0.15), ('flying', 0.35))
SETS: Dict[str, PairSet] = {s.name: s for s in (
    PairSet('heldout_v2', 2, _MIX_V2, HELDOUT_SEED_BASE, False),
    PairSet('validation_v2', 2, _MIX_V2, VALIDATION_FIRST_SEED, True),
    PairSet('heldout_v3', 3, _MIX_V3, 9_100_000, False),
    PairSet('validation_v3', 3, _MIX_V3, VALIDATION_FIRST_SEED, True),
)}
# What `heldout_pairs` and `validation_pairs` render when no version is named: the sets the
# shipped weights were chosen and reported on.
DEFAULT_VERSION = 2


def _set(kind: str, version: Optional[int]) -> PairSet:
    name = f'{kind}_v{DEFAULT_VERSION if version is None else version}'
    if name not in SETS:
        raise ValueError(f'no set {name!r}; sets: {sorted(SETS)}')
    return SETS[name]


def heldout_seeds(condition: str, count: int = HELDOUT_PAIRS,
                  version: Optional[int] = None) -> Tuple[int, ...]:
    """Render seeds of the held-out pairs of one condition."""
    if condition not in CONDITIONS:
        raise ValueError(f'condition {condition!r} is not one of {CONDITIONS}')
    base = _set('heldout', version).first_seed + 1000 * CONDITIONS.index(condition)
    return tuple(range(base, base + count))


def heldout_pairs(condition: Optional[str] = None, count: int = HELDOUT_PAIRS,
                  height: int = HELDOUT_HEIGHT, width: int = HELDOUT_WIDTH,
                  version: Optional[int] = None) -> Iterator[SyntheticPair]:
    """Yield held-out pairs of one condition, or of all three in order when None.

    `count`, `height` and `width` exist for quick smoke tests; reported numbers use the
    defaults.
    """
    s = _set('heldout', version)
    for c in ((condition,) if condition else CONDITIONS):
        for seed in heldout_seeds(c, count, s.version):
            yield render_pair(seed, height, width, HELDOUT_MAX_DISPARITY, c, mix=dict(s.mix),
                              version=s.version)


def validation_pairs(count: int = VALIDATION_PAIRS, height: int = HELDOUT_HEIGHT,
                     width: int = HELDOUT_WIDTH, version: Optional[int] = None
                     ) -> Iterator[SyntheticPair]:
    """Yield the training runs' validation pairs, rendered as their validation renders them."""
    s = _set('validation', version)
    for seed in range(s.first_seed, s.first_seed + count):
        yield render_pair(seed, height, width, HELDOUT_MAX_DISPARITY,
                          CONDITIONS[seed % len(CONDITIONS)], mix=dict(s.mix),
                          version=s.version)


def assert_training_seed(seed: int) -> None:
    """Raise ValueError if a training/validation seed could collide with held-out seeds."""
    if not 0 <= int(seed) < TRAINING_SEED_LIMIT:
        raise ValueError(f'training seed {seed} outside [0, {TRAINING_SEED_LIMIT})')
