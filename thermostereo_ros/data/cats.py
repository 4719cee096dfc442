# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Reader for the thermal stereo pairs of the CATS benchmark (Color And Thermal Stereo).

Release layout, as used by the benchmark's published evaluation scripts::

    <root>/<INDOOR|OUTDOOR>/<CATEGORY>/<scene>/rectified/thermal/left_thermal_<hazard>.png
    <root>/<INDOOR|OUTDOOR>/<CATEGORY>/<scene>/rectified/thermal/right_thermal_<hazard>.png
    <root>/<INDOOR|OUTDOOR>/<CATEGORY>/<scene>/rectified/thermal/mask.png
    <root>/<INDOOR|OUTDOOR>/<CATEGORY>/<scene>/gt_disparity/thermal/gt_disparity.txt
    <root>/<INDOOR|OUTDOOR>/<CATEGORY>/<scene>/gt_disparity/thermal/disp_range.txt

`gt_disparity.txt` is a comma-separated matrix at the rectified image size with NaN where
there is no value (`gt_disparity_interp.txt`, when present, is a densified version).
`disp_range.txt` holds `min,max` of the scene's disparities; min can be negative because
the pairs were rectified with different principal points. Networks and SGBM search
non-negative disparities only, so `shift_right` moves the right image left by
`offset = ceil(-min)` px (when min < 0), which adds `offset` to every disparity; subtract
it from the prediction (`evaluate` does). Hazard suffixes seen in the release are e.g.
`default`, `lowLight`, `dark`, `lowFog`, `highFog` (the colour images' conditions).

Calibration: the release's calibration files (camera parameter files per scene) are not
needed for disparity evaluation, because the images are already rectified and the ground
truth is in disparity; this reader does not parse them, so CATS is evaluated on
disparity metrics only (no metric depth).
"""

import glob
import math
import os
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np


class CATSFormatError(RuntimeError):
    """A CATS file is missing or malformed."""


@dataclass
class CATSSample:
    """One thermal pair with ground truth (left view)."""

    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray  # float32, NaN replaced by 0
    valid: np.ndarray      # bool: finite GT (and inside mask.png where present)
    disp_min: float
    disp_max: float
    scene: str
    hazard: str

    @property
    def offset(self) -> int:
        """Pixels to add to all disparities to make them non-negative."""
        return max(0, int(math.ceil(-self.disp_min)))


def list_scenes(root: str, modality: str = 'thermal') -> List[str]:
    """Scene paths relative to root (e.g. `OUTDOOR/CARS/scene1`) that have thermal GT."""
    pattern = os.path.join(root, '*', '*', '*', 'gt_disparity', modality, 'gt_disparity.txt')
    scenes = [os.path.relpath(os.path.dirname(os.path.dirname(os.path.dirname(p))), root)
              for p in glob.glob(pattern)]
    return sorted(s.replace(os.sep, '/') for s in scenes)


def read_disparity_txt(path: str) -> np.ndarray:
    """Comma-separated disparity matrix (NaN where unknown) as float32."""
    if not os.path.isfile(path):
        raise CATSFormatError(f'CATS disparity not found: {path}')
    try:
        return np.loadtxt(path, delimiter=',', dtype=np.float32, ndmin=2)
    except ValueError as exc:
        raise CATSFormatError(f'cannot parse {path}: {exc}') from exc


def read_disp_range(path: str) -> Tuple[float, float]:
    """(min, max) from disp_range.txt (comma or whitespace separated)."""
    if not os.path.isfile(path):
        raise CATSFormatError(f'CATS disparity range not found: {path}')
    with open(path) as f:
        values = f.read().replace(',', ' ').split()
    if len(values) < 2:
        raise CATSFormatError(f'{path} should hold "min,max"')
    return float(values[0]), float(values[1])


def _read_image(path: str) -> np.ndarray:
    # OpenCV only where an image is decoded, written or matched.
    import cv2

    if not os.path.isfile(path):
        raise CATSFormatError(f'CATS image not found: {path}')
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise CATSFormatError(f'cannot decode {path}')
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY)
    return image


def load_scene(root: str, scene: str, hazard: str = 'default',
               modality: str = 'thermal') -> CATSSample:
    """Load the pair, GT disparity, range and mask of one scene."""
    base = os.path.join(root, *scene.split('/'))
    rect = os.path.join(base, 'rectified', modality)
    gt_dir = os.path.join(base, 'gt_disparity', modality)
    left = _read_image(os.path.join(rect, f'left_{modality}_{hazard}.png'))
    right = _read_image(os.path.join(rect, f'right_{modality}_{hazard}.png'))
    gt = read_disparity_txt(os.path.join(gt_dir, 'gt_disparity.txt'))
    if gt.shape != left.shape[:2] or right.shape != left.shape:
        raise CATSFormatError(f'{scene}: image {left.shape}/{right.shape} and GT {gt.shape} '
                              'sizes differ')
    lo, hi = read_disp_range(os.path.join(gt_dir, 'disp_range.txt'))
    valid = np.isfinite(gt)
    mask_path = os.path.join(rect, 'mask.png')
    if os.path.isfile(mask_path):
        valid &= _read_image(mask_path) > 0
    return CATSSample(left=left, right=right, disparity=np.where(valid, gt, 0).astype(np.float32),
                      valid=valid, disp_min=lo, disp_max=hi, scene=scene, hazard=hazard)


def shift_right(right: np.ndarray, offset: int) -> np.ndarray:
    """Move the right image `offset` px left (edge-padded): disparities grow by `offset`."""
    if offset <= 0:
        return right
    out = np.empty_like(right)
    out[:, :-offset] = right[:, offset:]
    out[:, -offset:] = right[:, -1:]
    return out


def hazards(root: str, scene: str, modality: str = 'thermal') -> List[str]:
    """Hazard suffixes available for a scene's left thermal images."""
    rect = os.path.join(root, *scene.split('/'), 'rectified', modality)
    prefix = f'left_{modality}_'
    return sorted(os.path.basename(p)[len(prefix):-4]
                  for p in glob.glob(os.path.join(rect, prefix + '*.png')))
