# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""scripts/reliability_report.py renders what the JSON holds and marks the rest "not run"."""

import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        'reliability_report', ROOT / 'scripts' / 'reliability_report.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(distro, **extra):
    return {'ros_distro': distro, 'rclpy': '0', 'python': '3', 'rmw': 'x', 'machine': 'm',
            'generated_utc': 't', 'command': 'c', **extra}


def test_partial_runs_render_and_say_not_run(tmp_path):
    case = {'case': 'zero_width', 'kind': 'rejected', 'expected': {'zero_size': 1},
            'counted': {'zero_size': 1}, 'survived': True}
    (tmp_path / 'reliability-jazzy.json').write_text(json.dumps(_run('jazzy')))
    (tmp_path / 'reliability-kilted.json').write_text(json.dumps(_run(
        'kilted', cases=[case], soak={'rss_growth_mb': 1.5},
        campaign={'diagnostics': {'bad_input_zero_size': '1'}})))
    out = tmp_path / 'RELIABILITY.md'
    assert _script().main(['--in', str(tmp_path), '--out', str(out)]) == 0
    text = out.read_text()
    assert '| Figure | kilted | jazzy |' in text  # Kilted first, whatever the file order
    assert '| RSS growth after warm-up (MiB, limit 50) | 1.5 | not run |' in text
    assert '| `bad_input_zero_size` | 1 | not run |' in text
    assert '| `zero_width` | rejected | `bad_input_zero_size` +1 |' in text


def test_no_figures_is_an_error(tmp_path):
    assert _script().main(['--in', str(tmp_path), '--out', str(tmp_path / 'x.md')]) == 1
    assert not (tmp_path / 'x.md').exists()
