# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Wet roads that mirror the sky, cars and lights (renderer v3).

A flat wet road is a mirror whose image is the scene rendered from the camera reflected in the
road plane: the reflected ray from a road point continues exactly along the mirrored camera's
ray through the same pixel. So the mirror is one more ray-cast of the scene (the road left
out) from the mirrored camera, mixed into the road's own radiance with a weight of
`wetness * Fresnel(incidence)`: puddles and grazing angles mirror strongly, as in real rain
footage. The ground truth stays the road's depth; `reflective` marks where the mirror weighs
more than REFLECTIVE_WEIGHT: there the image matches partly at the mirrored object's depth.
Even a 2 % mirror of a warm car or the cold sky moves a pixel by 10-20 counts, more than the
sensor noise, so the mark covers nearly all of a wet road, not only its puddles.
"""

import functools
from typing import List, Tuple

import numpy as np

from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render.atmosphere import Atmosphere, attenuate, sky_radiance
from thermostereo_ros.data.render.builder import Scene
from thermostereo_ros.data.render.radiance import view_radiance
from thermostereo_ros.data.render.rig import ThermalCamera
from thermostereo_ros.data.render.textures import bilinear_wrap
from thermostereo_ros.data.render.thermal import MaterialTable

# Reflectance of water at normal incidence in the long-wave infrared (about 1-2 %).
WATER_R0 = 0.02
# Puddle field: correlation length of puddles on the road (metres per noise texel).
PUDDLE_TEXEL_M = 0.35
REFLECTIVE_WEIGHT = 0.002


def mirror_pose(r_cw: np.ndarray, centre: np.ndarray, point: np.ndarray, normal: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Rotation (a reflection, det -1) and centre of the camera mirrored in a plane."""
    n = normal / np.linalg.norm(normal)
    m = np.eye(3) - 2.0 * np.outer(n, n)
    return m @ r_cw, centre - 2.0 * float((centre - point) @ n) * n


def fresnel(cos_incidence: np.ndarray, r0: float = WATER_R0) -> np.ndarray:
    """Schlick's approximation of the reflectance at an incidence angle."""
    return r0 + (1.0 - r0) * (1.0 - np.clip(cos_incidence, 0.0, 1.0)) ** 5


def wet_weight(point: np.ndarray, cos_incidence: np.ndarray, wetness: float,
               tile: np.ndarray) -> np.ndarray:
    """Mirror weight at world road points (N, 3): puddles over a wet film, times Fresnel."""
    field = bilinear_wrap(tile, point[:, 0] / PUDDLE_TEXEL_M, point[:, 2] / PUDDLE_TEXEL_M)
    puddle = np.clip((field - 0.3) / 0.5, 0.0, 1.0)
    film = wetness * (0.35 + 0.65 * puddle)
    return (film * fresnel(cos_incidence)).astype(np.float32)


def mirror_zbuffer(primitives: List[pr.Primitive], road: int, r_cw: np.ndarray, centre: np.ndarray,
                   point: np.ndarray, normal: np.ndarray, rays: pr.Rays
                   ) -> Tuple[pr.ZBuffer, np.ndarray, np.ndarray]:
    """Cast everything but the road from the mirrored camera; ids index `primitives`."""
    r_m, c_m = mirror_pose(r_cw, centre, point, normal)
    others = [p for i, p in enumerate(primitives) if i != road]
    zb = pr.cast(others, r_m, c_m, rays)
    zb.ids[zb.ids >= road] += 1
    return zb, r_m, c_m


def shade_view_v3(scene: Scene, table: MaterialTable, tiles: Tuple[np.ndarray, ...],
                  camera: ThermalCamera, rays: pr.Rays, r_cw: np.ndarray, centre: np.ndarray,
                  zb: pr.ZBuffer, atmosphere: Atmosphere) -> Tuple[np.ndarray, np.ndarray]:
    """v3 counts of one view (v3 sky, air along each ray, wet-road mirror) and mirror weight."""
    sky = functools.partial(sky_radiance, atmosphere, tiles)
    out = view_radiance(scene, table, tiles, camera, rays, r_cw, centre, zb, sky)
    ray_norm = np.sqrt(rays.x ** 2 + rays.y ** 2 + 1.0)
    hit = zb.ids >= 0
    out[hit] = attenuate(out[hit], zb.depth[hit] * ray_norm[hit], atmosphere)
    weight = np.zeros(out.shape, np.float32)
    road = (zb.ids == scene.road) if scene.road >= 0 else np.zeros(out.shape, bool)
    if scene.wetness <= 0 or not road.any():
        return out, weight
    plane = scene.primitives[scene.road]
    zb_m, r_m, c_m = mirror_zbuffer(scene.primitives, scene.road, r_cw, centre, plane.origin,
                                    plane.need('normal'), rays)
    mirrored = view_radiance(scene, table, tiles, camera, rays, r_m, c_m, zb_m, sky)
    hit_m = zb_m.ids >= 0
    mirrored[hit_m] = attenuate(mirrored[hit_m], zb_m.depth[hit_m] * ray_norm[hit_m],
                                atmosphere)
    ray = np.stack([rays.x[road], rays.y[road], np.ones(int(road.sum()))], -1)
    point = centre + (ray * zb.depth[road][:, None]) @ r_cw.T
    cos_incidence = np.abs((ray @ r_cw.T) @ plane.normal) / np.linalg.norm(ray, axis=1)
    w = wet_weight(point, cos_incidence, scene.wetness, tiles[1])
    weight[road] = w
    out[road] = (1.0 - w) * out[road] + w * mirrored[road]
    return out, weight
