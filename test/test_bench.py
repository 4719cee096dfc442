# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo bench` on a tiny random-weight checkpoint: report keys and sane values."""

import importlib.util
import json
import math

import pytest

from node_helpers import tiny_checkpoint

from thermostereo_ros.cli.main import main
from thermostereo_ros.evaluation import bench_measure

# 256 px is the narrowest width SGBM accepts with a 192 px search and a 15 px window.
SIZES = '256x64,288x64'


def _check_latency(row):
    assert row['n'] >= 3
    assert row['p95_ms'] >= row['p50_ms'] > 0
    assert row['peak_rss_mb'] > 0


def test_bench_cli_writes_report(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path, max_disparity=192)
    out = tmp_path / 'bench_out'
    code = main(['bench', '--checkpoint', str(checkpoint), '--sizes', SIZES, '--runs', '3',
                 '--interleaved-seconds', '0',
                 '--warmup', '1', '--skip-node', '--accuracy-pairs', '1',
                 '--accuracy-size', '256x64', '--device', 'cpu', '--out', str(out),
                 '--lr-check'])
    assert code == 0
    report = json.loads((out / 'bench.json').read_text())
    # lr_check's cost next to each configuration (how much more is the bench's to measure: a
    # tiny network on a loaded machine may not show it).
    for row in report['latency']:
        lr = row['lr_check']
        assert lr['p50_ms'] > 0 and lr['plain_p50_ms'] > 0 and lr['paired_ratio_p50'] > 0
    assert "lr_check: the left-right check's cost" in (out / 'bench.md').read_text()
    assert (out / 'bench.md').read_text().startswith('# thermostereo bench')
    for key in ('machine', 'model', 'latency', 'sgbm', 'accuracy', 'ratios', 'summary'):
        assert key in report, key
    assert report['machine']['cpu_model'] and report['machine']['torch']
    # The share of the CPUs other processes took during the latency part, and the line
    # that reports it.
    share = report['machine']['others_cpu_share']
    assert 0.0 <= share <= 1.0
    assert 'Other processes used' in (out / 'bench.md').read_text()
    assert report['model']['params'] > 0
    assert set(report['model']['gflops']) == {'256x64', '288x64'}
    assert all(v > 0 for v in report['model']['gflops'].values())
    labels = {(r['label'], r['size']) for r in report['latency']}
    configs = ['torch fp32 cpu', 'onnxruntime fp32 cpu']
    if all(importlib.util.find_spec(m) for m in ('openvino', 'onnx')):
        configs.append('openvino fp32 cpu')
    if report['machine']['cpu_native_bf16']:
        configs += ['torch bf16 cpu'] + ['openvino bf16 cpu'] * ('openvino fp32 cpu' in configs)
    assert labels == {(c, s) for c in configs for s in ('256x64', '288x64')}
    for row in report['latency'] + report['sgbm']:
        _check_latency(row)
    assert len(report['sgbm']) == 4
    # The node's default configuration against SGBM, one call of each in turn, per size.
    assert [r['size'] for r in report['interleaved']] == ['256x64', '288x64']
    for row in report['interleaved']:
        assert row['label'].startswith('auto (') and row['network']['n'] == 3
        assert row['sgbm']['n'] == 3
        assert row['ratio_p50'] == pytest.approx(row['network']['p50_ms'] / row['sgbm']['p50_ms'])
        assert row['paired_ratio_p50'] > 0
    assert report['summary']['interleaved_ratio'] == report['interleaved'][0]['ratio_p50']
    assert 'interleaved' in (out / 'bench.md').read_text()
    # Start-up with the export cache empty and filled, for each backend that has one, at the
    # first size only.
    startup = {r['label']: r for r in report['startup']}
    assert set(startup) == {c for c in configs if not c.startswith('torch')}
    for row in startup.values():
        assert row['size'] == '256x64' and row['empty_cache_s'] > 0 and row['filled_cache_s'] > 0
    acc = report['accuracy']
    assert set(acc['conditions']) == {'day', 'night', 'rain'}
    for scope in [acc['all']] + list(acc['conditions'].values()):
        for method in ('network', 'sgbm'):
            assert math.isfinite(scope[method]['epe']) and scope[method]['epe'] >= 0
            assert 0 <= scope[method]['d1'] <= 100
    assert acc['all']['network']['frames'] == 3
    ratios = report['ratios']
    for key in ('epe_network_over_sgbm_all', 'd1_network_over_sgbm_all',
                'epe_network_over_sgbm_day'):
        assert key in ratios
    assert ratios['latency_p50_network_over_sgbm']['torch fp32 cpu @ 256x64'] > 0
    assert report['summary']['latency_ratio'] > 0
    assert report['errors'] == []


def test_merge_disparity_metrics():
    merged = bench_measure.merge_disparity_metrics([
        dict(epe=1.0, d1=10.0, bad1=0, bad2=0, bad3=0, frames=1, pixels=100),
        dict(epe=3.0, d1=30.0, bad1=0, bad2=0, bad3=0, frames=1, pixels=300)])
    assert merged['epe'] == pytest.approx(2.5) and merged['d1'] == pytest.approx(25.0)
    summary = bench_measure.summarize_ms([1.0, 2.0, 3.0, 4.0])
    assert summary['p95_ms'] >= summary['p50_ms'] > 0 and summary['n'] == 4


@pytest.mark.ros
def test_node_end_to_end_bench(tmp_path, monkeypatch):
    pytest.importorskip('rclpy')
    from thermostereo_ros.ros.dds import PROFILE_VARIABLES
    from thermostereo_ros.tools.bench_node import run_node_bench

    for var in PROFILE_VARIABLES:  # empty counts as unset; undone after the test
        monkeypatch.setenv(var, '')

    checkpoint = tiny_checkpoint(tmp_path, max_disparity=192)
    cache_home = tmp_path / 'xdg'
    result = run_node_bench(checkpoint, (64, 256), rate_hz=20.0, pairs=10, device='cpu',
                            export_cache_home=str(cache_home))
    assert result['sent'] == 10 and result['node_exit_code'] == 0
    # The node kept its export under the given folder, not the test run's own.
    assert result['export_cache'] == str(cache_home)
    if result['node_diagnostics']['backend'] in ('onnxruntime', 'openvino'):
        assert list((cache_home / 'thermostereo' / 'exports').glob('*_256x64.onnx'))
    if result['rmw'].startswith('rmw_fastrtps'):  # the bench applies the large-data profile
        assert result['dds_profile'].startswith('Fast DDS shared memory segment')
    assert result['first_output_ms'] >= result['first_output_latency_ms'] > 0
    assert result['pairs_before_first_output'] >= 0
    for topic in ('disparity', 'points2'):
        t = result['topics'][topic]
        assert t['delivered'] >= 1 and t['delivered'] + t['drops'] == 10
        assert t['latency']['p95_ms'] >= t['latency']['p50_ms'] > 0
    deltas = result['node_counter_deltas']
    assert deltas['pairs_in'] == 10 and deltas['pairs_out'] >= 1
    assert 'node_inference_p50_ms' in result['breakdown']
    from thermostereo_ros.ros import status
    if status.AVAILABLE:  # the typed per-pair status accounts for every measured pair
        outcomes = result['node_status']['by_outcome']
        assert sum(outcomes.values()) == 10 and outcomes.get('published', 0) >= 1, outcomes
        assert result['node_status']['inference_ms']['p50'] > 0
        # The first output's own account: its inference is part of its end-to-end time.
        stages = result['first_output_stages_ms']
        assert 0 < stages['inference'] <= stages['end_to_end'], stages
        assert sum(result['warmup_outcomes'].values()) >= 1
