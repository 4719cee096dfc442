# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Reader for the thermal stereo part of the KAIST MS2 (Multi-Spectral Stereo) dataset.

Layout (as documented by the dataset's readme and reference loader)::

    <root>/sync_data/<seq>/thr/img_left/<frame>.png    16-bit PNG, 640x256, rectified,
    <root>/sync_data/<seq>/thr/img_right/<frame>.png   raw counts within 14 bits
    <root>/sync_data/<seq>/calib.npy                   pickled dict (see below)
    <root>/proj_depth/<seq>/thr/depth_filtered/<frame>.png   uint16 depth * 256, 0 = none
    <root>/odom/<seq>/thr/<frame>.txt                  4x4 pose, whitespace separated
    <root>/{train,val,test_day,test_night,test_rainy}_list.txt   one sequence per line

calib.npy holds K_thrL, K_thrR (3x3), R_thrR (3x3), T_thrR (3x1, millimetres) and the
same for rgb/nir. It is a *pickle* (`np.load(..., allow_pickle=True)`), which can execute
code when loaded: only read it from a dataset root the user explicitly points at.
Baseline = |T_thrR[0]| / 1000 m, focal = K_thrL[0, 0], disparity = B f / depth where
depth > 1e-3 m, else 0.

Timestamps: the public readme does not document a per-frame timestamp file for the
thermal images. This reader assumes (and `ms2_writer` writes) one of
`sync_data/<seq>/thr/timestamps.txt` or `sync_data/<seq>/timestamps.txt` holding one time
in seconds per line (first column if several), in frame order; frame ids that are
integers are not themselves treated as times. `read_timestamps` returns None when
neither file exists.
"""

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

SPLIT_FILES = {
    'train': 'train_list.txt',
    'val': 'val_list.txt',
    'test_day': 'test_day_list.txt',
    'test_night': 'test_night_list.txt',
    'test_rain': 'test_rainy_list.txt',
    'test_rainy': 'test_rainy_list.txt',
}
SPLIT_CONDITION = {'test_day': 'day', 'test_night': 'night', 'test_rain': 'rain',
                   'test_rainy': 'rain'}
MIN_DEPTH_M = 1e-3
TIMESTAMP_FILES = (os.path.join('thr', 'timestamps.txt'), 'timestamps.txt')


class MS2FormatError(RuntimeError):
    """A file of the MS2 tree is missing or not in the expected format."""


@dataclass
class MS2Calibration:
    """Thermal stereo calibration of one sequence."""

    K_left: np.ndarray   # noqa: N815 - matches the dataset's names
    K_right: np.ndarray  # noqa: N815
    baseline_m: float
    focal_px: float
    raw: Dict[str, np.ndarray] = field(repr=False, default_factory=dict)


def read_split(root: str, split: str) -> List[str]:
    """Sequence names of a split (`train`, `val`, `test_day`, `test_night`, `test_rain`)."""
    if split not in SPLIT_FILES:
        raise ValueError(f'unknown MS2 split {split!r}; expected one of {sorted(SPLIT_FILES)}')
    path = os.path.join(root, SPLIT_FILES[split])
    if not os.path.isfile(path):
        raise MS2FormatError(f'MS2 split list not found: {path}')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def read_calibration(root: str, seq: str) -> MS2Calibration:
    """Load `sync_data/<seq>/calib.npy` (a pickle: trusted dataset roots only)."""
    path = os.path.join(root, 'sync_data', seq, 'calib.npy')
    if not os.path.isfile(path):
        raise MS2FormatError(f'MS2 calibration not found: {path}')
    try:
        raw = np.load(path, allow_pickle=True).item()
    except Exception as exc:  # noqa: B902 - any unpickling failure means a bad file
        raise MS2FormatError(f'cannot read MS2 calibration {path}: {exc}') from exc
    missing = [k for k in ('K_thrL', 'K_thrR', 'T_thrR') if k not in raw]
    if missing:
        raise MS2FormatError(f'{path} lacks keys {missing}')
    k_left = np.asarray(raw['K_thrL'], np.float64).reshape(3, 3)
    t = np.asarray(raw['T_thrR'], np.float64).ravel()
    return MS2Calibration(K_left=k_left,
                          K_right=np.asarray(raw['K_thrR'], np.float64).reshape(3, 3),
                          baseline_m=abs(float(t[0])) * 1e-3, focal_px=float(k_left[0, 0]),
                          raw=raw)


def _image_dir(root: str, seq: str, side: str) -> str:
    return os.path.join(root, 'sync_data', seq, 'thr', f'img_{side}')


def list_frames(root: str, seq: str) -> List[str]:
    """Sorted frame ids (file stems) of the left thermal images of a sequence."""
    d = _image_dir(root, seq, 'left')
    if not os.path.isdir(d):
        raise MS2FormatError(f'MS2 thermal image folder not found: {d}')
    return sorted(os.path.splitext(n)[0] for n in os.listdir(d) if n.endswith('.png'))


def thermal_paths(root: str, seq: str, frame: str) -> Tuple[str, str]:
    """(left, right) thermal PNG paths of a frame (existence is not checked)."""
    return (os.path.join(_image_dir(root, seq, 'left'), f'{frame}.png'),
            os.path.join(_image_dir(root, seq, 'right'), f'{frame}.png'))


def _read_png16(path: str, what: str) -> np.ndarray:
    import cv2  # OpenCV is only needed when files are actually read

    if not os.path.isfile(path):
        raise MS2FormatError(f'{what} not found: {path}')
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise MS2FormatError(f'cannot decode {what} {path} (corrupt or not an image)')
    if image.dtype != np.uint16 or image.ndim != 2:
        raise MS2FormatError(
            f'{what} {path} is {image.dtype} with shape {image.shape}; expected 16-bit '
            'single-channel')
    return image


def load_thermal(path: str) -> np.ndarray:
    """Read one 16-bit thermal PNG as uint16 HxW; MS2FormatError if missing/corrupt/8-bit."""
    return _read_png16(path, 'thermal image')


def load_depth(root: str, seq: str, frame: str) -> Optional[np.ndarray]:
    """Return the filtered LiDAR depth (float32 m, 0 = none) of a frame, or None if absent."""
    path = os.path.join(root, 'proj_depth', seq, 'thr', 'depth_filtered', f'{frame}.png')
    if not os.path.isfile(path):
        return None
    return _read_png16(path, 'depth map').astype(np.float32) / np.float32(256.0)


def depth_to_disparity(depth: np.ndarray, baseline_m: float, focal_px: float) -> np.ndarray:
    """Disparity (float32 px) = B f / depth where depth > 1e-3 m, else 0."""
    depth = np.asarray(depth, np.float32)
    valid = depth > MIN_DEPTH_M
    out = np.zeros(depth.shape, np.float32)
    out[valid] = np.float32(baseline_m * focal_px) / depth[valid]
    return out


def read_odometry(root: str, seq: str, frame: str) -> Optional[np.ndarray]:
    """4x4 pose of a frame from `odom/<seq>/thr/<frame>.txt`, or None if absent."""
    path = os.path.join(root, 'odom', seq, 'thr', f'{frame}.txt')
    if not os.path.isfile(path):
        return None
    return np.loadtxt(path, dtype=np.float64).reshape(4, 4)


def read_timestamps(root: str, seq: str) -> Optional[List[float]]:
    """Per-frame times in seconds (see the module docstring for the assumed file)."""
    for name in TIMESTAMP_FILES:
        path = os.path.join(root, 'sync_data', seq, name)
        if os.path.isfile(path):
            values = np.loadtxt(path, dtype=np.float64, ndmin=2)
            return [float(v) for v in values[:, 0]]
    return None
