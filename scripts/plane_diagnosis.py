#!/usr/bin/env python3
# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where a network loses a textured plane: the raw correlation, the aggregation or later.

For the plane suite's cases at 64-160 px (`evaluation.planes`), prints the median over each
plane's matchable pixels of: the raw 1/4 correlation's argmax, the hourglass's output logits'
argmax (both x4, in px), the soft-argmax regression (x4) and the final disparity, and the
share of pixels within 3 px.
Usage: scripts/plane_diagnosis.py [CHECKPOINT] (default: the shipped weights).
"""

import sys

import numpy as np
import torch

from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.evaluation import planes
from thermostereo_ros.inference.checkpoint import build_from_checkpoint
from thermostereo_ros.inference.engine import resolve_checkpoint
from thermostereo_ros.model.blocks import pad_to_multiple
from thermostereo_ros.model.cost_volume import correlation_volume


def stages(model, left: np.ndarray, right: np.ndarray):
    """Per-stage 1/4-resolution disparities (px) and the final full-resolution one."""
    ln, rn = normalize_pair(left, right, 'joint')
    lt, rt = torch.from_numpy(ln)[None, None], torch.from_numpy(rn)[None, None]
    with torch.inference_mode():
        images, _, _ = pad_to_multiple(torch.cat([lt, rt], 0))
        _, f4, f8, f16 = model.encoder(images)
        f4 = model._matching_features(f4)
        cost = correlation_volume(f4[:1], f4[1:], model.num_disparities)
        logits, _ = model.aggregation(cost, f4[:1], f8[:1], f16[:1])
        disp4, _ = model.regression(logits)
        final, _ = model(lt, rt)
    return (cost.argmax(1)[0].numpy() * 4.0, logits.argmax(1)[0].numpy() * 4.0,
            disp4[0, 0].numpy() * 4.0, final[0, 0].numpy())


def main() -> int:
    path = resolve_checkpoint(sys.argv[1] if len(sys.argv) > 1 else None)
    model = build_from_checkpoint(path)[0].eval()
    print('| plane | correlation argmax | hourglass argmax | soft-argmax regression | final '
          '| pixels within 3 px |')
    print('|---|---|---|---|---|---|')
    for case in planes.cases(disparities=(64, 96, 128, 160)):
        cost, hourglass, regression, final = stages(model, case.left, case.right)
        quarter = case.scored[::4, ::4]
        row = [np.median(a[quarter]) for a in (cost, hourglass, regression)]
        row.append(np.median(final[case.scored]))
        within = np.abs(final - case.truth)[case.scored] < planes.WITHIN_PX
        print(f'| {case.disparity:.0f} px, {case.name} | '
              + ' | '.join(f'{v:.0f}' for v in row) + f' | {100 * within.mean():.0f} % |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
