# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Procedural rectified thermal stereo pairs with exact disparity (renderer v3; v2 on request).

A scene is drawn from one of three families (`render.scenes`; v3's in `render.scenes_v3`, with
trees, thin street furniture, wet mirrors and far traffic): MS2-like streets, indoor and
near-range clutter, and flying objects. Both views are ray-cast from their own camera centre
(`render.primitives`): the depth of every pixel is the exact intersection of its ray with a
plane, polygon, ellipsoid or cylinder, so the disparity fx * B / z is exact on curved
surfaces too, and the right view shows correct texture where the left view could not see.
The right view is *not* a warp of the left image. `occluded` marks left pixels whose match
leaves the right image or lies behind a nearer surface of the right view's z-buffer.

Appearance (`render.thermal`) is a temperature field attached to each surface: materials,
solar load by day, sky cooling at night, wet near-isothermal rain, thermal crossover at dawn
and dusk, textures down to the finest grain, and objects that sometimes share the
background's temperature. The sensor (`render.sensor`) adds optics blur, vignetting,
narcissus, fixed-pattern noise, slow drift, shutter (FFC) frames and optional 8-bit AGC.

Rigs vary (`render.rig`): fx 300-800 px at 640 px width and baselines 0.05-0.5 m, unless a
camera is given. Ground truth: dense disparity (0 on sky), an occlusion mask, a sky mask and a
sparse LiDAR-like mask with a two-scanner 16-beam pattern.

`RENDERER_VERSION` is stored in training caches and checkpoint provenance, so that numbers
from data of different versions are never compared silently.
"""

import functools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render.atmosphere import draw_atmosphere
from thermostereo_ros.data.render.radiance import view_radiance
from thermostereo_ros.data.render.reflection import REFLECTIVE_WEIGHT, shade_view_v3
from thermostereo_ros.data.render.rig import (DEFAULT_BASELINE_M, DEFAULT_FX_AT_640,
                                              default_camera, random_camera, rig_camera,
                                              ThermalCamera)
from thermostereo_ros.data.render.scenes import (BUILDERS, DEFAULT_MIX, FAMILIES,
                                                 FAMILY_BASELINE_M, FAMILY_SPEED, draw_family)
from thermostereo_ros.data.render.scenes_v3 import BUILDERS_V3, DEFAULT_MIX_V3
from thermostereo_ros.data.render.sensor import (COUNT_MAX, draw_sensor, expose, quantise,
                                                 shutter_frame)
from thermostereo_ros.data.render.thermal import (CONDITIONS, check_condition, draw_condition,
                                                  make_tiles, material_table, sky_radiance)

__all__ = ['CONDITIONS', 'COUNT_MAX', 'DEFAULT_BASELINE_M', 'DEFAULT_FX_AT_640',
           'DEFAULT_MIX', 'DEFAULT_MIX_V3', 'DEFAULT_MIXES', 'FAMILIES', 'RENDERER_VERSION',
           'RENDERER_VERSIONS', 'TAGS', 'SyntheticPair', 'ThermalCamera',
           'default_camera', 'render_pair', 'render_sequence']

RENDERER_VERSION = 3
RENDERER_VERSIONS = (2, 3)
DEFAULT_MIXES = {2: DEFAULT_MIX, 3: DEFAULT_MIX_V3}
# Surface tags of `SyntheticPair.tags` (v3 scenes tag their surfaces; v2 ones only have sky).
TAGS = ('', 'sky', 'road', 'vehicle', 'foliage', 'tree', 'thin')
# LiDAR-like ground truth: two 16-beam scanners (2 degree spacing over +-15 degrees),
# interleaved by 1 degree, 0.2 degree azimuth steps, 85 % returns, 80 m range. MS2's own
# filtered depth comes from its LiDARs; this is our stated approximation of that pattern.
LIDAR_ELEVATIONS_DEG = np.concatenate([np.arange(-15, 16, 2), np.arange(-14, 17, 2)])
LIDAR_AZIMUTH_STEP_DEG = 0.2
LIDAR_RETURN = 0.85
LIDAR_RANGE_M = 80.0


@dataclass
class SyntheticPair:
    """One rendered pair; all arrays are HxW and describe the left view unless named."""

    left: np.ndarray          # uint16 raw counts (uint8 for bit_depth 8)
    right: np.ndarray
    disparity: np.ndarray     # float32, dense ground truth for the left view (sky: 0)
    sparse_valid: np.ndarray  # bool, LiDAR-like scan lines, never on sky
    occluded: np.ndarray      # bool, left pixels not visible in the right view
    sky: np.ndarray           # bool
    camera: ThermalCamera
    condition: str
    seed: int
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))  # left camera to world
    timestamp: float = 0.0
    family: str = 'street'
    variant: str = ''
    crossover: bool = False
    shutter: bool = False     # a camera showed its closed shutter: no ground truth
    bit_depth: int = 14
    noise: float = 0.0        # temporal noise sigma (counts, before AGC)
    radiance_left: Optional[np.ndarray] = None   # noise-free counts, when asked for
    radiance_right: Optional[np.ndarray] = None
    surface_left: Optional[np.ndarray] = None    # primitive index per pixel (-1 sky), ditto
    surface_right: Optional[np.ndarray] = None
    reflective: Optional[np.ndarray] = None      # bool: a wet mirror shows another depth
    tags: Optional[np.ndarray] = None            # uint8 index into TAGS per pixel
    version: int = RENDERER_VERSION

    @property
    def meta(self) -> Dict[str, Any]:
        """Scene facts worth storing next to the images."""
        return dict(family=self.family, variant=self.variant, condition=self.condition,
                    crossover=self.crossover, shutter=self.shutter, bit_depth=self.bit_depth,
                    seed=self.seed, fx=self.camera.fx, baseline=self.camera.baseline,
                    renderer_version=self.version)


def _occlusion(disp_left: np.ndarray, disp_right: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Left pixels whose match x - d leaves the image or lies behind a nearer right surface."""
    h, w = disp_left.shape
    xr = np.arange(w, dtype=np.float32)[None, :] - disp_left
    outside = xr < -0.5
    xi = np.clip(np.rint(xr), 0, w - 1).astype(np.intp)
    seen = np.take_along_axis(disp_right, xi, axis=1)
    # 1 px tolerance absorbs the half-pixel rounding of the lookup at depth edges.
    return (outside | (seen > disp_left + 1.0)) & ~sky


def _lidar_mask(rng: np.random.Generator, camera: ThermalCamera, depth: np.ndarray,
                valid: np.ndarray) -> np.ndarray:
    """Pixels hit by LiDAR beams (constant elevation, stepped azimuth) within range."""
    h, w = valid.shape
    half_fov = np.degrees(np.arctan((w / 2) / camera.fx)) + 1.0
    az = np.radians(np.arange(-half_fov, half_fov, LIDAR_AZIMUTH_STEP_DEG))
    el = np.radians(LIDAR_ELEVATIONS_DEG + rng.uniform(-0.5, 0.5))
    u = np.rint(camera.cx + camera.fx * np.tan(az))[None, :].repeat(len(el), 0)
    v = np.rint(camera.cy - camera.fy * np.tan(el)[:, None] / np.cos(az)[None, :])
    ok = (u >= 0) & (u < w) & (v >= 0) & (v < h) & (rng.random(u.shape) < LIDAR_RETURN)
    mask = np.zeros((h, w), bool)
    mask[v[ok].astype(int), u[ok].astype(int)] = True
    return mask & valid & (depth < LIDAR_RANGE_M)


def render_sequence(seed: int, frames: int, height: int = 256, width: int = 640,
                    max_disparity: float = 192, condition: str = 'day',
                    fps: float = 10.0, camera: Optional[ThermalCamera] = None,
                    family: Optional[str] = None, mix: Optional[Dict[str, float]] = None,
                    bit_depth: int = 14, ffc_period: float = 0.0,
                    keep_radiance: bool = False, version: int = RENDERER_VERSION
                    ) -> List[SyntheticPair]:
    """Render `frames` consecutive pairs of one world along a smooth forward/turning path.

    The world is populated along the whole path, so it depends on (seed, frames);
    `render_pair(s)` equals `render_sequence(s, 1)[0]`. `family` (or a draw from `mix`,
    default `DEFAULT_MIX`) picks the scene; `camera` None draws a rig. `ffc_period` > 0
    makes each camera show its shutter for one frame every that many seconds (phases differ
    per camera, as real cameras trigger FFC independently). `pose` is the left camera's
    camera-to-world 4x4 transform (x right, y down, z forward); `timestamp` is i / fps s.
    `version` 2 renders exactly what renderer v2 rendered (its held-out and validation sets
    stay reproducible); 3 adds v3's scenes, sky, air and wet mirrors.
    """
    _check_arguments(version, condition, frames, bit_depth)
    rng = np.random.default_rng(seed)
    family = family or draw_family(rng, mix or DEFAULT_MIXES[version])
    if family not in FAMILIES:
        raise ValueError(f'unknown scene family {family!r}; choose from {FAMILIES}')
    camera = _draw_camera(rng, family, height, width) if camera is None else camera
    cond = draw_condition(rng, condition)
    speed = float(rng.uniform(*FAMILY_SPEED[family]))
    builders = BUILDERS if version == 2 else BUILDERS_V3
    scene = builders[family](rng, camera, max_disparity, cond, speed * (frames - 1))
    table = material_table(scene.materials)
    tiles = make_tiles(rng)
    atmosphere = draw_atmosphere(rng, cond) if version >= 3 else None
    tag_of = np.array([TAGS.index(p.tag) for p in scene.primitives] + [TAGS.index('sky')],
                      np.uint8)
    yaw_amp, yaw_w, yaw_ph = rng.uniform(0, 0.02), rng.uniform(0.05, 0.2), rng.uniform(0, 6.3)
    sensors = [draw_sensor(rng, height, width, cond.fpn, cond.blur, cond.ambient)
               for _ in range(2)]
    since_ffc = rng.uniform(0, 60.0, 2)
    if ffc_period > 0:
        # Each camera at its own phase of its FFC cycle (no extra draw: same scene either way).
        since_ffc = since_ffc % ffc_period
    rays = pr.Rays(camera.fx, camera.fy, camera.cx, camera.cy, height, width)
    out = []
    yaw, centre = 0.0, np.array([0.0, 0.0, 0.0])
    for i in range(frames):
        if i:
            # Smooth turning: the yaw rate is a slow sinusoid, zero at the start.
            yaw += yaw_amp * (np.sin(yaw_w * i + yaw_ph) - np.sin(yaw_ph))
            centre = centre + speed * np.array([np.sin(yaw), 0.0, np.cos(yaw)])
        r_cw = pr.rotation(yaw, scene.pitch, scene.roll)
        right_centre = centre + r_cw[:, 0] * camera.baseline
        zb_l = pr.cast(scene.primitives, r_cw, centre, rays)
        zb_r = pr.cast(scene.primitives, r_cw, right_centre, rays)
        disp_l, disp_r = (_disparity(camera, zb) for zb in (zb_l, zb_r))
        rad_l, rad_r, mirror = _shade_views(scene, table, tiles, camera, rays, r_cw,
                                            [(centre, zb_l), (right_centre, zb_r)], cond,
                                            atmosphere)
        frame_rng = np.random.default_rng([seed, i])
        images, shutter = _expose_pair((rad_l, rad_r), sensors, frame_rng, cond, since_ffc,
                                       ffc_period, fps, bit_depth)
        sky = zb_l.ids < 0
        disp_gt, sparse, occluded = _ground_truth(frame_rng, camera, zb_l.depth, disp_l, disp_r,
                                                  sky, shutter, max_disparity)
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = r_cw, centre
        out.append(SyntheticPair(
            left=images[0], right=images[1], disparity=disp_gt, sparse_valid=sparse,
            occluded=occluded, sky=sky, camera=camera, condition=condition, seed=seed,
            pose=pose, timestamp=i / fps, family=family, variant=scene.variant,
            crossover=cond.crossover, shutter=shutter, bit_depth=bit_depth, noise=cond.noise,
            radiance_left=rad_l if keep_radiance else None,
            radiance_right=rad_r if keep_radiance else None,
            surface_left=zb_l.ids if keep_radiance else None,
            surface_right=zb_r.ids if keep_radiance else None,
            reflective=(mirror > REFLECTIVE_WEIGHT) & ~sky, tags=tag_of[zb_l.ids],
            version=version))
    return out


def _draw_camera(rng: np.random.Generator, family: str, height: int, width: int
                 ) -> ThermalCamera:
    camera = random_camera(rng, height, width)
    lo, hi = FAMILY_BASELINE_M[family]
    return rig_camera(camera.fx, camera.fy, camera.cx, camera.cy, float(rng.uniform(lo, hi)),
                      width, height)


def _disparity(camera: ThermalCamera, zb: Any) -> np.ndarray:
    with np.errstate(divide='ignore'):
        return np.where(np.isfinite(zb.depth), camera.fb / zb.depth, 0.0).astype(np.float32)


def _shade_views(scene: Any, table: Any, tiles: Any, camera: ThermalCamera, rays: Any,
                 r_cw: np.ndarray, views: List[Tuple[np.ndarray, Any]], cond: Any,
                 atmosphere: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radiance of the left and right views, and the left view's mirror weight."""
    if atmosphere is None:
        sky_model = functools.partial(sky_radiance, cond, tiles)
        rad_l, rad_r = [view_radiance(scene, table, tiles, camera, rays, r_cw, c, zb,
                                      sky_model) for c, zb in views]
        return rad_l, rad_r, np.zeros(views[0][1].ids.shape, np.float32)
    (rad_l, mirror), (rad_r, _) = [
        shade_view_v3(scene, table, tiles, camera, rays, r_cw, c, zb, atmosphere)
        for c, zb in views]
    return rad_l, rad_r, mirror


def _ground_truth(rng: np.random.Generator, camera: ThermalCamera, depth: np.ndarray,
                  disp_l: np.ndarray, disp_r: np.ndarray, sky: np.ndarray, shutter: bool,
                  max_disparity: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(disparity, LiDAR-like sparse mask, occlusion mask); none on a shutter frame."""
    if shutter:
        return (np.zeros_like(disp_l), np.zeros(sky.shape, bool), np.zeros(sky.shape, bool))
    sparse = _lidar_mask(rng, camera, depth, ~sky & (disp_l < max_disparity))
    return disp_l, sparse, _occlusion(disp_l, disp_r, sky)


def _check_arguments(version: int, condition: str, frames: int, bit_depth: int) -> None:
    if version not in RENDERER_VERSIONS:
        raise ValueError(f'renderer version {version} is not one of {RENDERER_VERSIONS}')
    check_condition(condition)
    if frames < 1:
        raise ValueError('frames must be >= 1')
    if bit_depth not in (8, 14):
        raise ValueError(f'bit_depth must be 14 or 8, got {bit_depth}')


def _expose_pair(radiances: Tuple[np.ndarray, np.ndarray], sensors: List[Any],
                 rng: np.random.Generator, cond: Any, since_ffc: np.ndarray,
                 ffc_period: float, fps: float, bit_depth: int) -> Tuple[List[np.ndarray], bool]:
    """Expose both views (left first: the draw order is part of every fingerprint).

    Returns the quantised images and whether either camera showed its shutter; `since_ffc`
    advances in place.
    """
    images, shutter = [], False
    for k, (rad, model) in enumerate(zip(radiances, sensors)):
        if ffc_period > 0 and since_ffc[k] >= ffc_period:
            img = shutter_frame(model, rng, cond.noise, rad.shape)
            since_ffc[k], shutter = 0.0, True
        else:
            img = expose(rad, model, rng, cond.noise, cond.ambient, since_ffc[k])
        since_ffc[k] += 1.0 / fps
        images.append(quantise(img, bit_depth))
    return images, shutter


def render_pair(seed: int, height: int = 256, width: int = 640, max_disparity: float = 192,
                condition: str = 'day', camera: Optional[ThermalCamera] = None,
                family: Optional[str] = None, mix: Optional[Dict[str, float]] = None,
                bit_depth: int = 14, keep_radiance: bool = False,
                version: int = RENDERER_VERSION) -> SyntheticPair:
    """Render one deterministic rectified thermal pair (see the module docstring)."""
    return render_sequence(seed, 1, height, width, max_disparity, condition, camera=camera,
                           family=family, mix=mix, bit_depth=bit_depth,
                           keep_radiance=keep_radiance, version=version)[0]
