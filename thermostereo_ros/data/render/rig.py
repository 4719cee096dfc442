# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Rectified stereo rigs: the default MS2-like camera and random rigs for training diversity.

The default camera is a documented assumption, not copied from MS2's calib.npy: fx = fy =
430 px at 640 px width (a ~73 degree horizontal field of view), principal point at the image
centre and a 0.30 m baseline. Random rigs span fx 300-800 px at 640 px width and baselines
0.12-0.5 m, so that a network trained on them is not tied to one camera.
"""

from dataclasses import dataclass

import numpy as np

from thermostereo_ros.geometry import StereoCamera

DEFAULT_FX_AT_640 = 430.0
DEFAULT_BASELINE_M = 0.30
RIG_FX_RANGE_AT_640 = (300.0, 800.0)
RIG_BASELINE_RANGE_M = (0.12, 0.5)


@dataclass(frozen=True)
class ThermalCamera(StereoCamera):
    """A rendering rig: geometry's StereoCamera, both principal points equal, with a size.

    One camera model for the renderer and the node: disparity, depth and Q come from the same
    class. Build it with `rig_camera`.
    """

    width: int = 0
    height: int = 0

    @property
    def cx(self) -> float:
        """Principal point column of both rectified views."""
        return self.cx_left

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the intrinsic matrix
        """3x3 float64 intrinsic matrix (identical for both rectified views)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def fb(self) -> float:
        """Focal length times baseline (px m): disparity = fb / depth."""
        return self.focal_baseline

    def disparity_to_depth(self, disparity: np.ndarray) -> np.ndarray:
        """Depth in metres (inf where disparity <= 0)."""
        d = np.asarray(disparity, dtype=np.float32)
        with np.errstate(divide='ignore'):
            return np.where(d > 0, np.float32(self.fx * self.baseline) / d, np.inf)


def rig_camera(fx: float, fy: float, cx: float, cy: float, baseline: float, width: int,
               height: int) -> ThermalCamera:
    """Return a rig whose two rectified views share the principal point (cx, cy)."""
    return ThermalCamera(fx=fx, fy=fy, cx_left=cx, cx_right=cx, cy=cy, baseline=baseline,
                         width=width, height=height)


def default_camera(height: int = 256, width: int = 640) -> ThermalCamera:
    """Return the default camera: fx = 430 px scaled to `width`, centred, 0.30 m baseline."""
    f = DEFAULT_FX_AT_640 * width / 640.0
    return rig_camera(fx=f, fy=f, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0,
                      baseline=DEFAULT_BASELINE_M, width=width, height=height)


def random_camera(rng: np.random.Generator, height: int, width: int) -> ThermalCamera:
    """Draw a rig: log-uniform focal length, uniform baseline, principal point near centre."""
    lo, hi = RIG_FX_RANGE_AT_640
    f = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) * width / 640.0
    return rig_camera(fx=f, fy=f * float(rng.uniform(0.995, 1.005)),
                      cx=(width - 1) / 2.0 + float(rng.uniform(-0.02, 0.02)) * width,
                      cy=(height - 1) / 2.0 + float(rng.uniform(-0.02, 0.02)) * height,
                      baseline=float(rng.uniform(*RIG_BASELINE_RANGE_M)),
                      width=width, height=height)
