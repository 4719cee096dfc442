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
from typing import Any, Dict, List, Sequence

import cv2
import numpy as np

from thermostereo_ros.data.scene_stats import pair_content
from thermostereo_ros.data.synthetic import (CONDITIONS, FAMILIES, RENDERER_VERSION, SyntheticPair,
                                             TAGS, render_pair)

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


def _masks(p: SyntheticPair) -> np.ndarray:
    """Occluded red, sky blue; v3 adds foliage green, trees and poles yellow, mirrors cyan."""
    occ = np.zeros(p.disparity.shape + (3,), np.uint8)
    occ[~p.occluded & ~p.sky] = (90, 90, 90)
    if p.version >= 3 and p.tags is not None:
        occ[p.tags == TAGS.index('foliage')] = (40, 160, 40)
        occ[np.isin(p.tags, [TAGS.index('tree'), TAGS.index('thin')])] = (0, 220, 255)
        occ[p.reflective] = (200, 200, 0)
    occ[p.occluded] = (0, 0, 255)
    occ[p.sky] = (120, 60, 0)
    return occ


def _close_up(p: SyntheticPair, max_disparity: float, size: tuple = (128, 320)
              ) -> np.ndarray:
    """Crop the window with the most foliage: left image, disparity and tags, full size."""
    h, w = size
    if p.tags is None:
        raise ValueError('the close-up needs the pair\'s tags (renderer v3)')
    foliage = (p.tags == TAGS.index('foliage')).astype(np.float32)
    score = cv2.boxFilter(foliage, -1, (w, h), normalize=False)
    y, x = np.unravel_index(np.argmax(score[h // 2:-h // 2 or None, w // 2:-w // 2 or None]),
                            score[h // 2:-h // 2 or None, w // 2:-w // 2 or None].shape)
    window = np.s_[y:y + h, x:x + w]
    return np.hstack([_label(_grey(p.left)[window].copy(), f'{p.condition} foliage close-up'),
                      _disparity_colour(p.disparity[window], max_disparity),
                      _masks(p)[window]])


def gallery(path: str, per_cell: int = 2, height: int = 256, width: int = 640,
            max_disparity: float = 192, scale: float = 0.5, version: int = RENDERER_VERSION
            ) -> np.ndarray:
    """Write a PNG grid (rows: scenes; columns: left, right, disparity, occlusion and tags).

    v3 galleries add two foliage close-ups (street scenes, full resolution) at the bottom.
    """
    rows = []
    for family in FAMILIES:
        for condition in CONDITIONS:
            for i in range(per_cell):
                bit_depth = 8 if i % 2 else 14
                p = render_pair(_doc_seed(family, condition, i), height, width, max_disparity,
                                condition, family=family, bit_depth=bit_depth, version=version)
                occ = _masks(p)
                tag = (f'{family}/{p.variant} {condition}{" crossover" if p.crossover else ""}'
                       f' {bit_depth}-bit fx={p.camera.fx:.0f} B={p.camera.baseline:.2f}')
                tiles = [_grey(p.left), _grey(p.right),
                         _disparity_colour(p.disparity, max_disparity), occ]
                tiles = [cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                         for t in tiles]
                _label(tiles[0], tag)
                _label(tiles[2], f'disparity 0-{max_disparity:.0f} px')
                _label(tiles[3], 'occluded (red), sky (blue)' if version < 3 else
                       'occl. red, sky blue, foliage green, trees/poles yellow, mirror cyan')
                rows.append(np.hstack(tiles))
    if version >= 3:
        # Among a few street scenes, the two with the most foliage, cropped at full size.
        candidates = [render_pair(_doc_seed('street', c, 50 + i), height, width, max_disparity,
                                  c, family='street', version=version)
                      for c in ('day', 'night') for i in range(3)]
        candidates.sort(key=lambda p: -float(np.mean(p.tags == TAGS.index('foliage'))))
        for p in candidates[:2]:
            strip = _close_up(p, max_disparity, (int(height * scale), int(width * scale)))
            rows.append(np.hstack([strip, np.zeros((strip.shape[0], rows[0].shape[1]
                                                    - strip.shape[1], 3), np.uint8)]))
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
    if p.radiance_left is None:
        raise ValueError('statistics need the radiance: render with keep_radiance=True')
    clean = p.radiance_left.astype(np.float32)
    mean = cv2.blur(clean, (5, 5))
    std = np.sqrt(np.maximum(cv2.blur(clean * clean, (5, 5)) - mean * mean, 0.0))
    out['textureless'] = float(np.mean(std < p.noise))
    jump_x = np.abs(np.diff(d, axis=1)) > np.maximum(1.0, 0.1 * d[:, 1:])
    jump_y = np.abs(np.diff(d, axis=0)) > np.maximum(1.0, 0.1 * d[1:, :])
    out['discontinuities'] = float(jump_x.sum() + jump_y.sum())
    return out


def statistics(pairs_per_cell: int = 6, height: int = 256, width: int = 640,
               max_disparity: float = 192, families: Sequence[str] = FAMILIES,
               version: int = RENDERER_VERSION) -> List[Dict[str, Any]]:
    """One row per (family, condition): mean pair statistics and render seconds per pair."""
    rows = []
    for family in families:
        for condition in CONDITIONS:
            stats, seconds = [], []
            for i in range(pairs_per_cell):
                started = time.perf_counter()
                p = render_pair(_doc_seed(family, condition, 100 + i), height, width,
                                max_disparity, condition, family=family, keep_radiance=True,
                                version=version)
                seconds.append(time.perf_counter() - started)
                stats.append({**pair_statistics(p, max_disparity), **pair_content(p)})
            row: Dict[str, Any] = dict(version=version, family=family, condition=condition,
                                       pairs=pairs_per_cell)
            for key in stats[0]:
                row[key] = float(np.mean([s[key] for s in stats]))
            row['render_s'] = float(np.median(seconds))
            rows.append(row)
    return rows


def statistics_markdown(rows: List[Dict[str, Any]]) -> str:
    """Format the statistics as a Markdown table (shares in %), rows of all versions given."""
    head = ('| family | condition | renderer | 0-8 px | 8-32 | 32-96 | 96-192 | occluded | sky | '
            'textureless | thin (of non-sky) | foliage (of non-sky) | wet mirror | '
            'occluder in front (frames) | discontinuity px / image | render s / pair |')
    lines = [head, '|' + '---|' * (head.count('|') - 1)]
    for r in sorted(rows, key=lambda r: (FAMILIES.index(str(r['family'])),
                                         CONDITIONS.index(str(r['condition'])),
                                         int(r.get('version', 2)))):
        pct = [f"{100 * float(r[k]):.1f}" for k in (
            'disp_0_8', 'disp_8_32', 'disp_32_96', 'disp_96_192', 'occluded', 'sky',
            'textureless')]
        pct += [f"{100 * float(r[k]):.2f}" for k in ('thin',)]
        pct += [f"{100 * float(r[k]):.1f}"
                for k in ('foliage', 'reflective', 'occluder_in_front')]
        lines.append(f"| {r['family']} | {r['condition']} | v{r.get('version', 2)} | "
                     + ' | '.join(pct)
                     + f" | {float(r['discontinuities']):.0f} | {float(r['render_s']):.2f} |")
    return '\n'.join(lines) + '\n'
