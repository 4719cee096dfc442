# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The ablation table of docs/RESULTS.md: the paper's two claims, measured on held-out data.

Rows: (a) student on sparse GT only, (b) student with distillation, (c) (b) without the
attention refinement, (d) the teacher, (e) OpenCV SGBM, (f) the shipped default weights.
Columns: EPE, D1, bad-1, bad-3 per held-out condition, parameters, CPU latency at 640x256.
Every number comes from running the checkpoints on the fixed held-out set (`data.heldout`),
never from training logs.
"""

import pathlib
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from thermostereo_ros.data.heldout import HELDOUT_HEIGHT, HELDOUT_WIDTH
from thermostereo_ros.evaluation.evaluate import evaluate_split, iter_frames
from thermostereo_ros.evaluation.sgbm import SGBMBaseline
from thermostereo_ros.inference import StereoEngine
from thermostereo_ros.inference.checkpoint import build_from_checkpoint

ROWS: Tuple[Tuple[str, str, Optional[str]], ...] = (
    ('a', 'student, sparse GT only', 'student_sparse'),
    ('b', 'student, sparse GT + distillation', 'student_kd'),
    ('c', '(b) without refinement', 'student_kd_norefine'),
    ('d', 'teacher (dense GT)', 'teacher'),
    ('e', 'OpenCV SGBM (stereo_image_proc defaults)', None),
    ('f', 'shipped default weights', 'student_default'),
)
CONDITIONS = ('day', 'night', 'rain')
COLUMNS = ('epe', 'd1', 'bad1', 'bad3')
_TITLES = {'epe': 'EPE', 'd1': 'D1 %', 'bad1': 'bad-1 %', 'bad3': 'bad-3 %'}


def cpu_latency_ms(method: Callable[[np.ndarray, np.ndarray], np.ndarray], runs: int = 10,
                   warmup: int = 2) -> float:
    """Median wall time of `method` on one held-out-sized pair, in milliseconds."""
    rng = np.random.default_rng(0)
    left = rng.integers(3000, 6000, (HELDOUT_HEIGHT, HELDOUT_WIDTH)).astype(np.uint16)
    right = np.roll(left, -8, axis=1)
    for _ in range(warmup):
        method(left, right)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        method(left, right)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def evaluate_row(method: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 max_frames: Optional[int] = None, progress: bool = False
                 ) -> Dict[str, Dict[str, float]]:
    """Metrics of one method on each held-out condition."""
    out = {}
    for condition in CONDITIONS:
        frames = iter_frames('synthetic', None, f'heldout_{condition}', max_frames)
        out[condition] = evaluate_split({'m': method}, frames, progress=progress,
                                        desc=condition)['m']
    return out


def run_ablation(runs_dir: pathlib.Path, max_frames: Optional[int] = None,
                 latency_runs: int = 10, progress: bool = True) -> List[dict]:
    """Evaluate every row whose checkpoint exists under `runs_dir`; returns row dicts."""
    rows: List[Dict[str, Any]] = []
    for key, label, run_name in ROWS:
        method: Callable[[np.ndarray, np.ndarray], np.ndarray]
        if run_name is None:
            method = SGBMBaseline(192).compute
            params = 0
            checkpoint = None
            precision = 'fp32'
        else:
            checkpoint = pathlib.Path(runs_dir) / run_name / 'final.safetensors'
            if not checkpoint.is_file():
                rows.append({'row': key, 'label': label, 'missing': str(checkpoint)})
                continue
            # fp32 for every row: precision 'auto' picks bf16 on some CPUs and for some
            # architectures only, and the rows must differ in their recipe alone.
            engine = StereoEngine.from_checkpoint(checkpoint, device='cpu', precision='fp32',
                                                  backend='torch')
            method = _disparity_of(engine)
            params = engine.metadata.get('parameters') or _count_parameters(checkpoint)
            precision = engine.precision
        rows.append({'row': key, 'label': label, 'checkpoint': str(checkpoint or ''),
                     'parameters': int(params), 'precision': precision,
                     'latency_ms_640x256': cpu_latency_ms(method, latency_runs),
                     'metrics': evaluate_row(method, max_frames, progress)})
    return rows


def _disparity_of(engine: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda left, right: engine.infer(left, right).disparity


def _count_parameters(checkpoint: pathlib.Path) -> int:
    model, _ = build_from_checkpoint(checkpoint)
    return sum(p.numel() for p in model.parameters())


def markdown(rows: List[dict]) -> str:
    """Render the ablation rows as one markdown table."""
    head = ['', 'model'] + [f'{c} {_TITLES[m]}' for c in CONDITIONS for m in COLUMNS]
    head += ['params', 'CPU ms 640x256 fp32']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in rows:
        if 'missing' in row:
            lines.append(f"| ({row['row']}) | {row['label']} | not trained: {row['missing']} |")
            continue
        cells = [f"({row['row']})", row['label']]
        for condition in CONDITIONS:
            metrics = row['metrics'][condition]
            cells += [f'{metrics[m]:.2f}' for m in COLUMNS]
        cells.append(f"{row['parameters'] / 1e6:.2f} M" if row['parameters'] else '-')
        cells.append(f"{row['latency_ms_640x256']:.0f}")
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
