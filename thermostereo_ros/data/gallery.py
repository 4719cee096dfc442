# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A picture and a table of what the renderer produces, per scene family and condition.

`gallery` draws left, right, disparity and occlusion side by side, several scenes per family
and condition. `statistics` measures, per family and condition, the share of pixels per
disparity band, the occluded, sky and textureless shares, the depth discontinuities per
image and the render time per pair. Both use seeds of their own (DOC_SEED_BASE), inside the
training range but apart from the seeds caches and validation use by default.
"""

import time
from typing import Dict, List, Sequence

import cv2
import numpy as np

from thermostereo_ros.data.synthetic import CONDITIONS, FAMILIES, SyntheticPair, render_pair

DOC_SEED_BASE = 500_000
DISPARITY_BANDS = ((0, 8), (8, 32), (32, 96), (96, 192))


def _doc_seed(family: str, condition: str, index: int) -> int:
    return (DOC_SEED_BASE + 10_000 * FAMILIES.index(family) + 1000 * CONDITIONS.index(condition)
            + index)


def _grey(image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image, (1, 99))
    scaled = (image.astype(np.float32) - lo) * (255.0 / max(float(hi - lo), 1.0))
    return cv2.cvtColor(np.clip(scaled, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def _disparity_colour(disparity: np.ndarray, max_disparity: float) -> np.ndarray:
    scaled = np.clip(disparity / max_disparity * 255.0, 0, 255).astype(np.uint8)
    out = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    out[disparity <= 0] = 0
    return out


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                cv2.LINE_AA)
    return tile


def gallery(path: str, per_cell: int = 2, height: int = 256, width: int = 640,
            max_disparity: float = 192, scale: float = 0.5) -> np.ndarray:
    """Write a PNG grid (rows: scenes; columns: left, right, disparity, occlusion)."""
    rows = []
    for family in FAMILIES:
        for condition in CONDITIONS:
            for i in range(per_cell):
                bit_depth = 8 if i % 2 else 14
                p = render_pair(_doc_seed(family, condition, i), height, width, max_disparity,
                                condition, family=family, bit_depth=bit_depth)
                occ = np.zeros((height, width, 3), np.uint8)
                occ[p.occluded] = (0, 0, 255)
                occ[p.sky] = (120, 60, 0)
                occ[~p.occluded & ~p.sky] = (90, 90, 90)
                tag = (f'{family}/{p.variant} {condition}{" crossover" if p.crossover else ""}'
                       f' {bit_depth}-bit fx={p.camera.fx:.0f} B={p.camera.baseline:.2f}')
                tiles = [_grey(p.left), _grey(p.right),
                         _disparity_colour(p.disparity, max_disparity), occ]
                tiles = [cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                         for t in tiles]
                _label(tiles[0], tag)
                _label(tiles[2], f'disparity 0-{max_disparity:.0f} px')
                _label(tiles[3], 'occluded (red), sky (blue)')
                rows.append(np.hstack(tiles))
    grid = np.vstack(rows)
    if not cv2.imwrite(path, grid):
        raise OSError(f'could not write {path}')
    return grid


def pair_statistics(p: SyntheticPair, max_disparity: float) -> Dict[str, float]:
    """Per-pair shares (of all pixels) and discontinuity count; needs radiance_left."""
    d = p.disparity
    valid = (d > 0) & ~p.sky
    n = d.size
    out = {f'disp_{lo}_{hi}': float(np.sum(valid & (d >= lo) & (d < hi)) / n)
           for lo, hi in DISPARITY_BANDS}
    out['occluded'] = float(p.occluded.mean())
    out['sky'] = float(p.sky.mean())
    clean = p.radiance_left.astype(np.float32)
    mean = cv2.blur(clean, (5, 5))
    std = np.sqrt(np.maximum(cv2.blur(clean * clean, (5, 5)) - mean * mean, 0.0))
    out['textureless'] = float(np.mean(std < p.noise))
    jump_x = np.abs(np.diff(d, axis=1)) > np.maximum(1.0, 0.1 * d[:, 1:])
    jump_y = np.abs(np.diff(d, axis=0)) > np.maximum(1.0, 0.1 * d[1:, :])
    out['discontinuities'] = float(jump_x.sum() + jump_y.sum())
    return out


def statistics(pairs_per_cell: int = 6, height: int = 256, width: int = 640,
               max_disparity: float = 192, families: Sequence[str] = FAMILIES
               ) -> List[Dict[str, object]]:
    """One row per (family, condition): mean pair statistics and render seconds per pair."""
    rows = []
    for family in families:
        for condition in CONDITIONS:
            stats, seconds = [], []
            for i in range(pairs_per_cell):
                started = time.perf_counter()
                p = render_pair(_doc_seed(family, condition, 100 + i), height, width,
                                max_disparity, condition, family=family, keep_radiance=True)
                seconds.append(time.perf_counter() - started)
                stats.append(pair_statistics(p, max_disparity))
            row: Dict[str, object] = dict(family=family, condition=condition,
                                          pairs=pairs_per_cell)
            for key in stats[0]:
                row[key] = float(np.mean([s[key] for s in stats]))
            row['render_s'] = float(np.median(seconds))
            rows.append(row)
    return rows


def statistics_markdown(rows: List[Dict[str, object]]) -> str:
    """Format the statistics as a Markdown table (shares in %)."""
    head = ('| family | condition | 0-8 px | 8-32 | 32-96 | 96-192 | occluded | sky | '
            'textureless | discontinuity px / image | render s / pair |')
    lines = [head, '|' + '---|' * (head.count('|') - 1)]
    for r in rows:
        pct = [f"{100 * r[k]:.1f}" for k in ('disp_0_8', 'disp_8_32', 'disp_32_96',
                                             'disp_96_192', 'occluded', 'sky', 'textureless')]
        lines.append(f"| {r['family']} | {r['condition']} | " + ' | '.join(pct) +
                     f" | {r['discontinuities']:.0f} | {r['render_s']:.2f} |")
    return '\n'.join(lines) + '\n'
