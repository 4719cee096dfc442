# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The learning curve of a run (validation EPE and D1 against steps) drawn as a PNG.

Drawn with OpenCV, which the package needs anyway, rather than adding matplotlib for one plot.
"""

from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

_W, _H, _MARGIN = 900, 360, 60


def _panel(points: Sequence[float], steps: Sequence[int], title: str,
           colour: Tuple[int, int, int]) -> np.ndarray:
    img = np.full((_H, _W // 2, 3), 255, np.uint8)
    x0, y0, x1, y1 = _MARGIN, 30, _W // 2 - 20, _H - 40
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 1)
    cv2.putText(img, title, (x0, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if not points:
        return img
    lo, hi = 0.0, max(points) * 1.05 or 1.0
    s_hi = max(max(steps), 1)

    def xy(step: float, value: float) -> Tuple[int, int]:
        return (int(x0 + (x1 - x0) * step / s_hi), int(y1 - (y1 - y0) * (value - lo) / (hi - lo)))

    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        v = lo + frac * (hi - lo)
        y = xy(0, v)[1]
        cv2.line(img, (x0 - 4, y), (x0, y), (0, 0, 0), 1)
        cv2.putText(img, f'{v:.1f}', (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for frac in (0.0, 0.5, 1.0):
        x = xy(frac * s_hi, lo)[0]
        cv2.putText(img, f'{int(frac * s_hi)}', (x - 15, y1 + 18), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (0, 0, 0), 1, cv2.LINE_AA)
    pts = np.array([xy(s, v) for s, v in zip(steps, points)], np.int32)
    cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
    for p in pts:
        cv2.circle(img, tuple(int(c) for c in p), 2, colour, -1)
    cv2.putText(img, 'step', (x1 - 40, y1 + 32), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                cv2.LINE_AA)
    return img


def plot_curve(curve: List[Dict[str, float]], path: str, title: str = '') -> None:
    """Write validation EPE (px) and D1 (%) against training steps side by side."""
    steps = [int(c['step']) for c in curve]
    epe = _panel([c['epe'] for c in curve], steps, f'{title} validation EPE (px)',
                 (200, 80, 0))
    d1 = _panel([c['d1'] for c in curve], steps, f'{title} validation D1 (%)', (0, 80, 200))
    if not cv2.imwrite(path, np.hstack([epe, d1])):
        raise OSError(f'could not write {path}')
