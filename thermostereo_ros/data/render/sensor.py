# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Uncooled microbolometer model: optics, vignetting, narcissus, non-uniformity, drift, FFC, AGC.

Each camera of a rig has its own constants (gain, offset, vignetting, a narcissus spot, a
fixed column and pixel pattern, a slow drift field), because the two cameras of a real rig are
two separate sensors. Between flat-field corrections the offset non-uniformity drifts; a
shutter (FFC) frame shows the closed shutter, a nearly uniform image. Many drivers publish
8-bit frames after automatic gain control (AGC), a percentile stretch computed per camera,
so left and right then differ by gain and offset as well; `bit_depth=8` reproduces that.
"""

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

COUNT_MAX = 16383  # 14-bit sensor
AGC_PERCENTILES = (0.5, 99.5)


@dataclass
class SensorModel:
    """Per-camera constants drawn once per sequence."""

    gain: float
    offset: float
    vignetting: np.ndarray    # multiplicative contrast fall-off, HxW
    narcissus: np.ndarray     # additive (the detector's cold reflection), HxW
    columns: np.ndarray       # 1xW fixed-pattern column offsets
    pixels: np.ndarray        # HxW fixed-pattern pixel gain
    drift: np.ndarray         # HxW offset field per second since the last FFC
    blur: float
    shutter: float            # counts of the closed shutter


def _smooth_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    coarse = rng.standard_normal((4, 6)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def draw_sensor(rng: np.random.Generator, height: int, width: int, fpn: float, blur: float,
                ambient: float) -> SensorModel:
    """Draw one camera's constants; `fpn` is the column noise sigma of the condition."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (width / 2)) ** 2
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    spot = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.25 * width) ** 2)))
    return SensorModel(
        gain=float(rng.uniform(0.95, 1.05)), offset=float(rng.uniform(-60, 60)),
        vignetting=(1.0 - rng.uniform(0.0, 0.15) * r2).astype(np.float32),
        narcissus=(-rng.uniform(0, 50) * spot + rng.uniform(-40, 40) * r2).astype(np.float32),
        columns=rng.normal(0.0, fpn, (1, width)).astype(np.float32),
        pixels=(1.0 + rng.normal(0.0, 0.004, (height, width))).astype(np.float32),
        drift=(rng.uniform(0.0, 0.5) * _smooth_field(rng, height, width)).astype(np.float32),
        blur=float(blur * rng.uniform(0.9, 1.1)),
        shutter=float(ambient + rng.uniform(-100, 300)))


def expose(radiance: np.ndarray, model: SensorModel, rng: np.random.Generator, noise: float,
           ambient: float, seconds_since_ffc: float) -> np.ndarray:
    """Expose one frame (float32 counts): blur, vignetting, gains, offsets, drift, noise."""
    img = cv2.GaussianBlur(radiance, (0, 0), model.blur)
    img = ambient + model.gain * model.vignetting * model.pixels * (img - ambient)
    img += model.offset + model.narcissus + model.columns
    img += model.drift * np.float32(min(seconds_since_ffc, 120.0))
    img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    return img


def shutter_frame(model: SensorModel, rng: np.random.Generator, noise: float,
                  shape: Tuple[int, ...]) -> np.ndarray:
    """Image the closed shutter of a flat-field correction: uniform but for noise, narcissus."""
    img = np.full(shape, model.shutter, np.float32) + 0.3 * model.narcissus
    img += rng.normal(0.0, noise, shape).astype(np.float32)
    return img


def quantise(img: np.ndarray, bit_depth: int) -> np.ndarray:
    """14-bit raw counts as uint16, or an 8-bit AGC frame (per-frame percentile stretch)."""
    if bit_depth == 14:
        return np.clip(np.rint(img), 0, COUNT_MAX).astype(np.uint16)
    if bit_depth == 8:
        lo, hi = np.percentile(img, AGC_PERCENTILES)
        scaled = (img - lo) * (255.0 / max(float(hi - lo), 1.0))
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    raise ValueError(f'bit_depth must be 14 or 8, got {bit_depth}')
