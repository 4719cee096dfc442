# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The shipped default weights: loadable, small, documented, and better than SGBM.

The accuracy check uses validation seeds (between the training seeds and the held-out test
seeds), so it guards the shipped file against regressions without touching the test set.
"""

import json

import numpy as np

from thermostereo_ros.data.heldout import TRAINING_SEED_LIMIT
from thermostereo_ros.data.synthetic import render_pair
from thermostereo_ros.evaluation.metrics import MetricAccumulator
from thermostereo_ros.evaluation.sgbm import SGBMBaseline
from thermostereo_ros.inference import StereoEngine, default_checkpoint

# Training renders seeds [0, 100000) and validates on the next few; these lie above both and
# far below the held-out range.
VALIDATION_SEEDS = (100100, 100101, 100102)


def test_default_checkpoint_is_small_safetensors_with_provenance():
    path = default_checkpoint()
    assert path.suffix == '.safetensors' and path.stat().st_size < 10 * 1024 * 1024
    engine = StereoEngine.from_checkpoint(device='cpu')
    meta = engine.metadata
    assert meta['arch'] == 'thermostereo_rt'
    provenance = meta['provenance']
    if isinstance(provenance, str):
        provenance = json.loads(provenance)
    assert provenance['data'] == 'synthetic' and provenance['renderer_version'] == 2
    assert provenance['steps'] > 0 and 'teacher' in provenance  # None: no distillation
    assert engine.max_disparity == 192


def test_default_weights_beat_sgbm_on_validation_pairs():
    assert max(VALIDATION_SEEDS) < TRAINING_SEED_LIMIT
    engine = StereoEngine.from_checkpoint(device='cpu')
    sgbm = SGBMBaseline(192)
    network, classical = MetricAccumulator(192), MetricAccumulator(192)
    for seed, condition in zip(VALIDATION_SEEDS, ('day', 'night', 'rain')):
        pair = render_pair(seed, 256, 640, 192, condition)
        valid = ~pair.sky & (pair.disparity > 0)
        network.update(engine.infer(pair.left, pair.right).disparity, pair.disparity, valid)
        classical.update(sgbm.compute(pair.left, pair.right), pair.disparity, valid)
    ours, theirs = network.result(), classical.result()
    assert np.isfinite(ours['epe'])
    assert ours['epe'] < theirs['epe'], (ours, theirs)


def test_engine_output_is_deterministic_and_in_range():
    engine = StereoEngine.from_checkpoint(device='cpu')
    pair = render_pair(VALIDATION_SEEDS[0], 256, 640, 192, 'day')
    first = engine.infer(pair.left, pair.right)
    second = engine.infer(pair.left, pair.right)
    np.testing.assert_array_equal(first.disparity, second.disparity)
    assert first.disparity.min() >= 0 and first.disparity.max() <= 192 + 1e-3
    assert 0 <= first.confidence.min() and first.confidence.max() <= 1
