# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Noise-free counts of one view from its z-buffer: surfaces by their materials, sky by a model.

Renderer v2 and v3 share this; they differ in the sky model they pass and in what v3 adds on
top (`render.reflection`: the air along each ray and the mirror of wet roads).
"""

from typing import Callable, Tuple

import numpy as np

from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render.rig import ThermalCamera
from thermostereo_ros.data.render.builder import Scene
from thermostereo_ros.data.render.thermal import MaterialTable, surface_radiance

SkyModel = Callable[[np.ndarray], np.ndarray]   # world ray directions (N, 3) -> counts (N,)


def view_radiance(scene: Scene, table: MaterialTable, tiles: Tuple[np.ndarray, ...],
                  camera: ThermalCamera, rays: pr.Rays, r_cw: np.ndarray, centre: np.ndarray,
                  zb: pr.ZBuffer, sky: SkyModel) -> np.ndarray:
    """Noise-free counts of one view from its z-buffer."""
    is_sky = zb.ids < 0
    out = np.empty(is_sky.shape, np.float32)
    if is_sky.any():
        rays_sky = np.stack([rays.x[is_sky], rays.y[is_sky], np.ones(int(is_sky.sum()))], -1)
        out[is_sky] = sky(rays_sky @ r_cw.T)
    hit = ~is_sky
    if not hit.any():
        return out
    ids = zb.ids[hit]
    z = zb.depth[hit]
    ray = np.stack([rays.x[hit], rays.y[hit], np.ones_like(z)], -1)
    point = centre + (ray * z[:, None]) @ r_cw.T
    normal_c = zb.normal[hit]
    facing = np.einsum('nj,nj->n', normal_c, ray)
    normal_c[facing > 0] *= -1.0  # towards the camera
    normal_w = (normal_c @ r_cw.T).astype(np.float32)
    origins = np.array([p.origin for p in scene.primitives])
    frames = np.array([p.frame for p in scene.primitives], np.float32)
    planar = np.array([p.kind in ('plane', 'polygon') for p in scene.primitives])
    material = np.array([p.material for p in scene.primitives])[ids]
    rel = (point - origins[ids]).astype(np.float32)
    f = frames[ids]
    local = np.einsum('nji,nj->ni', f, rel)
    normal_l = np.einsum('nji,nj->ni', f, normal_w)
    # Metres of surface per pixel, stretched on slanted surfaces (1 / cos of the incidence):
    # texture and pattern edges finer than that would alias differently in the two views.
    ray_norm = np.linalg.norm(ray, axis=1)
    cos_incidence = np.abs(facing) / ray_norm
    footprint = (z * ray_norm / camera.fx / np.maximum(cos_incidence, 0.05)).astype(np.float32)
    out[hit] = surface_radiance(table, material, local, normal_l, normal_w, footprint,
                                scene.condition, tiles, planar[ids])
    return out
