# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The sky as a thermal camera sees it, and the air between the camera and a surface (v3).

Sky: a cold zenith, a warmer band at the horizon (the long slant path through warm air),
clouds at three scales that are warmer than the clear sky they cover, and on some days a
sun-lit horizon haze as warm as distant trees. Rain brings a low, nearly uniform overcast.
Sky pixels carry no ground truth; the sky mask stays exact.

Air: each surface's radiance fades toward the air's temperature with distance,
`air + (surface - air) * exp(-range / extinction)`. Clear air barely matters within 100 m;
fog and rain make far objects fade, as they do in real thermal footage.
"""

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from thermostereo_ros.data.render.textures import bilinear_wrap
from thermostereo_ros.data.render.thermal import Condition

# Extinction length of the air (metres) per condition; fog is drawn within day and night.
EXTINCTION_M = {'day': (1500.0, 6000.0), 'night': (800.0, 4000.0), 'rain': (90.0, 400.0)}
FOG_EXTINCTION_M = (40.0, 160.0)
FOG_PROBABILITY = 0.08


@dataclass
class Atmosphere:
    """Sky and air of one scene (counts of the 14-bit sensor, metres)."""

    zenith: float
    horizon: float
    band: float            # angular width of the warm horizon band (radians)
    cover: float           # share of the sky under clouds
    cloud_warmth: float    # counts a thick cloud adds over the clear sky behind it
    air: float             # counts of the air the surfaces fade toward
    extinction: float      # metres
    fog: bool


def draw_atmosphere(rng: np.random.Generator, condition: Condition) -> Atmosphere:
    """Draw the sky and air of one scene for its condition."""
    low, high = condition.sky
    fog = condition.name != 'rain' and rng.random() < FOG_PROBABILITY
    if condition.name == 'rain':
        zenith = high - rng.uniform(0, 150)
        horizon = condition.ambient - rng.uniform(20, 150)
        cover = rng.uniform(0.85, 1.0)
        warmth = rng.uniform(20, 120)
    else:
        zenith = low - rng.uniform(0, 250)
        # Some days the sun-lit haze at the horizon is as warm as the trees below it.
        haze = rng.random() < 0.25
        horizon = (condition.ambient - rng.uniform(0, 250) if haze
                   else high + rng.uniform(0, 300))
        cover = rng.uniform(0.0, 0.9)
        warmth = rng.uniform(100, 700) * (0.6 if condition.name == 'night' else 1.0)
    if fog:
        horizon = condition.ambient - rng.uniform(0, 80)
        zenith = 0.5 * (zenith + horizon)
    lo, hi = FOG_EXTINCTION_M if fog else EXTINCTION_M[condition.name]
    return Atmosphere(zenith=float(zenith), horizon=float(horizon),
                      band=float(rng.uniform(0.04, 0.25)), cover=float(cover),
                      cloud_warmth=float(warmth),
                      air=float(condition.ambient + rng.uniform(-80, 40)),
                      extinction=float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), fog=fog)


def sky_radiance(atmosphere: Atmosphere, tiles: Tuple[np.ndarray, ...],
                 direction: np.ndarray) -> np.ndarray:
    """Sky counts from world ray directions (..., 3)."""
    dx, dy, dz = direction[..., 0], direction[..., 1], direction[..., 2]
    elev = np.arctan2(-dy, np.hypot(dx, dz))
    azim = np.arctan2(dx, dz)
    e = np.maximum(elev, 0.0)
    clear = atmosphere.zenith + (atmosphere.horizon - atmosphere.zenith) * np.exp(
        -e / atmosphere.band)
    # Clouds at three scales, stretched along the horizon as perspective flattens them.
    field = (0.6 * bilinear_wrap(tiles[0], azim * 12.0, e * 30.0)
             + 0.3 * bilinear_wrap(tiles[0], azim * 40.0 + 17.0, e * 110.0 + 5.0)
             + 0.15 * bilinear_wrap(tiles[0], azim * 130.0 + 31.0, e * 380.0 + 11.0))
    threshold = np.quantile(tiles[0], 1.0 - atmosphere.cover) * 0.75
    cloud = np.clip((field - threshold) / 0.35, 0.0, 1.0)
    return (clear + atmosphere.cloud_warmth * cloud * (0.4 + 0.6 * np.exp(-e / 0.5))
            ).astype(np.float32)


def attenuate(radiance: np.ndarray, distance: np.ndarray, atmosphere: Atmosphere
              ) -> np.ndarray:
    """Fade surface counts toward the air's over `distance` metres along each ray."""
    transmittance = np.exp(-distance / atmosphere.extinction).astype(np.float32)
    return atmosphere.air + (radiance - atmosphere.air) * transmittance
