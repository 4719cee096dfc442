# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The held-out and validation sets cannot move silently: fingerprints of their first pairs.

A renderer change that alters a set fails here. If the change is meant to alter what the
renderer draws, give it a new version and new sets (`heldout_v4`, ...) and keep these.
The fingerprint covers the scene (family, condition, rig), the ground truth (disparity to
1e-3 px, sky and occlusion masks) and the images (mean counts to 0.1), so it does not hinge
on the last bit of a floating-point texture value.
"""

import hashlib

import numpy as np
import pytest

from thermostereo_ros.data import heldout

# First pair of each condition (held-out) or the first three pairs (validation), 640x256.
FINGERPRINTS = {
    'heldout_v2': '8431385c9373ac25',
    'validation_v2': 'c8b26f4b7e1a59db',
    'heldout_v3': '6f803e87f3f3f6b7',
    'validation_v3': 'f045847ae662eeda',
}


def fingerprint(pairs) -> str:
    h = hashlib.sha256()
    for p in pairs:
        h.update(f'{p.family}/{p.variant}/{p.condition}/{p.seed}/{p.version}/'
                 f'{p.camera.fx:.6f}/{p.camera.baseline:.6f}'.encode())
        h.update(np.round(p.disparity.astype(np.float64), 3).tobytes())
        h.update(np.packbits(p.sky).tobytes() + np.packbits(p.occluded).tobytes())
        h.update(f'{p.left.mean():.1f}/{p.right.mean():.1f}'.encode())
    return h.hexdigest()[:16]


def _first_pairs(name: str):
    s = heldout.SETS[name]
    if s.validation:
        return list(heldout.validation_pairs(3, version=s.version))
    return [next(heldout.heldout_pairs(c, 1, version=s.version))
            for c in ('day', 'night', 'rain')]


@pytest.mark.parametrize('name', sorted(FINGERPRINTS))
def test_set_fingerprint(name):
    assert fingerprint(_first_pairs(name)) == FINGERPRINTS[name], name


def test_sets_pin_version_and_mix():
    for name, s in heldout.SETS.items():
        assert name.endswith(f'_v{s.version}')
        pairs = _first_pairs(name)[:1]
        assert all(p.version == s.version for p in pairs)
    seeds = {name: (s.version, s.first_seed) for name, s in heldout.SETS.items()}
    assert len(set(seeds.values())) == len(seeds)
    for name in ('heldout_v2', 'heldout_v3'):
        assert heldout.SETS[name].first_seed >= heldout.TRAINING_SEED_LIMIT
    for name in ('validation_v2', 'validation_v3'):
        assert heldout.SETS[name].first_seed + 1000 < heldout.TRAINING_SEED_LIMIT


def test_unknown_version_is_a_clear_error():
    with pytest.raises(ValueError, match='heldout_v9'):
        next(heldout.heldout_pairs('day', 1, version=9))
