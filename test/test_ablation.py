# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The ablation tool evaluates real checkpoints on held-out pairs and reports missing runs."""

from thermostereo_ros.evaluation.ablation import markdown, run_ablation
from thermostereo_ros.inference.checkpoint import save_checkpoint
from thermostereo_ros.model import build_model

TINY = {'base_channels': 8, 'feature_channels': 16, 'aggregation_channels': 16,
        'refinement_channels': 8, 'max_disparity': 192}


def test_ablation_rows_from_checkpoints(tmp_path):
    model = build_model('thermostereo_rt', TINY).eval()
    (tmp_path / 'student_kd').mkdir()
    save_checkpoint(tmp_path / 'student_kd' / 'final.safetensors', model, 'thermostereo_rt',
                    model.config, {'mode': 'joint', 'low': 1.0, 'high': 99.0}, {'data': 'test'})
    rows = run_ablation(tmp_path, max_frames=1, latency_runs=1, progress=False)
    by_key = {row['row']: row for row in rows}
    assert set(by_key) == {'a', 'b', 'c', 'd', 'e', 'f'}
    assert 'missing' in by_key['a'] and 'missing' in by_key['d']
    student, sgbm = by_key['b'], by_key['e']
    assert student['parameters'] == sum(p.numel() for p in model.parameters())
    for row in (student, sgbm):
        assert row['precision'] == 'fp32'  # whatever the CPU: rows differ in recipe alone
        assert row['latency_ms_640x256'] > 0
        for condition in ('day', 'night', 'rain'):
            metrics = row['metrics'][condition]
            assert metrics['frames'] == 1 and metrics['pixels'] > 1000
            assert 0 <= metrics['d1'] <= 100 and metrics['epe'] >= 0
    table = markdown(rows)
    assert '| (b) | student, sparse GT + distillation |' in table
    assert 'not trained' in table
