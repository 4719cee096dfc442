# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Ray-cast scene primitives with exact per-pixel depth: planes, polygons, ellipsoids, cylinders.

Every primitive lives in a world frame (x right, y down, z forward) and carries a local frame
(origin and orthonormal axes) to which its temperature texture is attached, so both views of a
stereo pair see the same surface point with the same value. Rays are cast through pixel
centres from each camera; a primitive's depth is the exact intersection of that ray with the
surface (planes in closed form, quadrics by the quadratic formula), so the disparity
fx * B / z is exact for curved surfaces too, not only for planes.

The z-buffer keeps the nearest hit; `cast` also returns the world normal at every hit, which
shading needs (solar load, sky cooling, triplanar texture weights).
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

NEAR_M = 0.05


@dataclass
class Primitive:
    """One surface. `kind` selects which geometry fields are used.

    plane:     normal n, offset c (n . X = c); infinite.
    polygon:   planar convex or concave polygon `vertices` (n, 3) with plane normal n.
    ellipsoid: centre `origin`, axes `frame` (columns), semi-axes `radii`.
    cylinder:  base centre `origin`, axis `frame[:, 2]`, `radii[0]` radius, `radii[2]` length,
               closed by two discs.
    spheres:   many spheres, centres `points` (N, 3), radii `sizes` (N,) (`render.clusters`).
    tubes:     many open cylinders, ends `points` (N, 2, 3), radii `sizes` (N,) (ditto).

    `tag` names what the surface is ('foliage', 'tree', 'thin', 'road', 'vehicle', ...) for
    statistics and label maps; it never changes how the surface renders.
    """

    kind: str
    origin: np.ndarray                  # texture origin (and centre/base for quadrics)
    frame: np.ndarray                   # 3x3, columns are local axes in world coordinates
    material: int
    normal: Optional[np.ndarray] = None
    offset: float = 0.0
    vertices: Optional[np.ndarray] = None
    radii: Optional[np.ndarray] = None
    points: Optional[np.ndarray] = None
    sizes: Optional[np.ndarray] = None
    tag: str = ''

    def need(self, name: str) -> np.ndarray:
        """Return the geometry field `name`, which this primitive's kind requires."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f'a {self.kind} primitive needs {name}, and this one has none')
        return np.asarray(value)


def _orthonormal(normal: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Frame whose third column is `normal` and first column lies along `hint` projected."""
    n = normal / np.linalg.norm(normal)
    u = hint - (hint @ n) * n
    if np.linalg.norm(u) < 1e-9:
        u = np.cross(n, [0.0, 0.0, 1.0]) if abs(n[2]) < 0.9 else np.cross(n, [1.0, 0.0, 0.0])
    u = u / np.linalg.norm(u)
    return np.stack([u, np.cross(n, u), n], 1)


def plane(point: np.ndarray, normal: np.ndarray, material: int,
          hint: np.ndarray = np.array([1.0, 0.0, 0.0])) -> Primitive:
    """Infinite plane through `point`."""
    frame = _orthonormal(np.asarray(normal, float), np.asarray(hint, float))
    n = frame[:, 2]
    return Primitive('plane', np.asarray(point, float), frame, material, normal=n,
                     offset=float(n @ point))


def polygon(vertices: np.ndarray, material: int,
            hint: Optional[np.ndarray] = None) -> Primitive:
    """Planar polygon; its normal follows the vertex order (any sign: both sides render)."""
    v = np.asarray(vertices, float)
    n = np.cross(v[1] - v[0], v[2] - v[0])
    if np.linalg.norm(n) < 1e-12:
        raise ValueError('degenerate polygon')
    frame = _orthonormal(n, v[1] - v[0] if hint is None else np.asarray(hint, float))
    n = frame[:, 2]
    return Primitive('polygon', v[0].copy(), frame, material, normal=n, offset=float(n @ v[0]),
                     vertices=v)


def rectangle(centre: np.ndarray, axis_u: np.ndarray, axis_v: np.ndarray, size_u: float,
              size_v: float, material: int) -> Primitive:
    """Rectangle centred at `centre` spanning `size_u` along axis_u and `size_v` along axis_v."""
    c, u, v = (np.asarray(a, float) for a in (centre, axis_u, axis_v))
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    hu, hv = u * size_u / 2, v * size_v / 2
    return polygon(np.stack([c - hu - hv, c + hu - hv, c + hu + hv, c - hu + hv]), material,
                   hint=u)


def box(centre: np.ndarray, frame: np.ndarray, size: np.ndarray, material: int
        ) -> List[Primitive]:
    """Make a closed box of `size` (along the frame's columns) from six rectangles."""
    c, f, s = np.asarray(centre, float), np.asarray(frame, float), np.asarray(size, float)
    faces = []
    for axis in range(3):
        a, b = f[:, (axis + 1) % 3], f[:, (axis + 2) % 3]
        for sign in (-1.0, 1.0):
            faces.append(rectangle(c + sign * f[:, axis] * s[axis] / 2, a, b,
                                   s[(axis + 1) % 3], s[(axis + 2) % 3], material))
    return faces


def ellipsoid(centre: np.ndarray, frame: np.ndarray, radii: np.ndarray,
              material: int) -> Primitive:
    """Ellipsoid (a sphere when the radii are equal)."""
    return Primitive('ellipsoid', np.asarray(centre, float), np.asarray(frame, float),
                     material, radii=np.asarray(radii, float))


def cylinder(base: np.ndarray, axis: np.ndarray, radius: float, length: float,
             material: int) -> Primitive:
    """Make a closed cylinder from `base` along `axis` (unit after normalisation)."""
    frame = _orthonormal(np.asarray(axis, float), np.array([1.0, 0.0, 0.0]))
    return Primitive('cylinder', np.asarray(base, float), frame, material,
                     radii=np.array([radius, radius, length]))


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """World rotation about y (yaw), then x (pitch, positive looks down), then z (roll)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(-pitch), np.sin(-pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random rotation (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


class Rays:
    """Per-pixel ray directions r = ((u - cx) / fx, (v - cy) / fy, 1) of one camera."""

    def __init__(self, fx: float, fy: float, cx: float, cy: float, height: int, width: int):
        """Precompute the normalised ray coordinates."""
        self.fx, self.fy, self.cx, self.cy = fx, fy, cx, cy
        self.height, self.width = height, width
        u = (np.arange(width, dtype=np.float64) - cx) / fx
        v = (np.arange(height, dtype=np.float64) - cy) / fy
        self.x = np.broadcast_to(u[None, :], (height, width))
        self.y = np.broadcast_to(v[:, None], (height, width))

    def window(self, v0: int, v1: int, u0: int, u1: int) -> Tuple[np.ndarray, np.ndarray]:
        """Ray coordinates of a pixel window."""
        return self.x[v0:v1, u0:u1], self.y[v0:v1, u0:u1]


class ZBuffer:
    """Nearest-hit depth, primitive index and camera-frame normal per pixel."""

    def __init__(self, height: int, width: int):
        """Start empty: infinite depth, index -1 (sky)."""
        self.depth = np.full((height, width), np.inf)
        self.ids = np.full((height, width), -1, np.int32)
        self.normal = np.zeros((height, width, 3))

    def update(self, window: Tuple[int, int, int, int], z: np.ndarray, hit: np.ndarray,
               normal: np.ndarray, index: int) -> None:
        """Keep `z` where `hit` and nearer than what is there."""
        v0, v1, u0, u1 = window
        sub = self.depth[v0:v1, u0:u1]
        upd = hit & (z < sub)
        sub[upd] = z[upd]
        self.ids[v0:v1, u0:u1][upd] = index
        nsub = self.normal[v0:v1, u0:u1]
        nsub[upd] = normal[upd] if normal.ndim == 3 else normal


def _clip_near(verts: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-frame polygon against z >= NEAR_M."""
    if np.all(verts[:, 2] >= NEAR_M):
        return verts
    out = []
    n = len(verts)
    for i in range(n):
        a, b = verts[i], verts[(i + 1) % n]
        ina, inb = a[2] >= NEAR_M, b[2] >= NEAR_M
        if ina:
            out.append(a)
        if ina != inb:
            t = (NEAR_M - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if len(out) >= 3 else np.zeros((0, 3))


def _sphere_window(rays: Rays, centre: np.ndarray, radius: float
                   ) -> Optional[Tuple[int, int, int, int]]:
    """Pixel window that contains the projection of a bounding sphere (camera frame)."""
    if centre[2] + radius < NEAR_M:
        return None
    if centre[2] - radius < NEAR_M or np.linalg.norm(centre) < radius * 1.01:
        return 0, rays.height, 0, rays.width
    corners = centre[None, :] + radius * np.array(
        [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    pu = rays.fx * corners[:, 0] / corners[:, 2] + rays.cx
    pv = rays.fy * corners[:, 1] / corners[:, 2] + rays.cy
    u0, u1 = max(int(np.floor(pu.min())), 0), min(int(np.ceil(pu.max())) + 1, rays.width)
    v0, v1 = max(int(np.floor(pv.min())), 0), min(int(np.ceil(pv.max())) + 1, rays.height)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def _cast_plane(p: Primitive, n_c: np.ndarray, c_c: float, rays: Rays, zb: ZBuffer,
                index: int) -> None:
    denom = n_c[0] * rays.x + n_c[1] * rays.y + n_c[2]
    with np.errstate(divide='ignore', invalid='ignore'):
        z = c_c / denom
    hit = np.isfinite(z) & (z > NEAR_M)
    zb.update((0, rays.height, 0, rays.width), z, hit, n_c, index)


def _cast_polygon(p: Primitive, r_wc: np.ndarray, centre: np.ndarray, rays: Rays,
                  zb: ZBuffer, index: int) -> None:
    n_c = r_wc @ p.normal
    c_c = p.offset - p.normal @ centre
    if abs(c_c) < 1e-9:
        return  # seen edge-on
    verts = _clip_near((p.vertices - centre) @ r_wc.T)
    if len(verts) == 0:
        return
    pu = rays.fx * verts[:, 0] / verts[:, 2] + rays.cx
    pv = rays.fy * verts[:, 1] / verts[:, 2] + rays.cy
    u0, u1 = max(int(np.floor(pu.min())), 0), min(int(np.ceil(pu.max())) + 1, rays.width)
    v0, v1 = max(int(np.floor(pv.min())), 0), min(int(np.ceil(pv.max())) + 1, rays.height)
    if u0 >= u1 or v0 >= v1:
        return
    mask = np.zeros((v1 - v0, u1 - u0), np.uint8)
    # cv2.fillPoly with 4 fractional bits decides which pixel centres the polygon covers
    # (sub-pixel edges, concave outlines); the depth itself is the exact plane intersection.
    pts = np.round(np.stack([pu - u0 + 0.0, pv - v0], 1) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    x, y = rays.window(v0, v1, u0, u1)
    denom = n_c[0] * x + n_c[1] * y + n_c[2]
    with np.errstate(divide='ignore', invalid='ignore'):
        z = c_c / denom
    # Pixels that the rasteriser fills just outside a grazing polygon would extrapolate the
    # plane far beyond the polygon: clamp to the depth range of its vertices.
    z = np.clip(z, verts[:, 2].min(), verts[:, 2].max())
    hit = (mask > 0) & np.isfinite(z) & (z > NEAR_M)
    zb.update((v0, v1, u0, u1), z, hit, n_c, index)


def _cast_ellipsoid(p: Primitive, r_wc: np.ndarray, centre: np.ndarray, rays: Rays,
                    zb: ZBuffer, index: int) -> None:
    c = r_wc @ (p.origin - centre)
    radii = p.need('radii')
    window = _sphere_window(rays, c, float(radii.max()))
    if window is None:
        return
    m = (r_wc @ p.frame) / radii[None, :]      # columns scaled: local = m.T @ camera
    o = -(m.T @ c)                               # camera centre in unit-sphere coordinates
    cc = float(o @ o) - 1.0
    if cc <= 0:
        return  # the camera is inside
    x, y = rays.window(*window)
    d = [m[0, i] * x + m[1, i] * y + m[2, i] for i in range(3)]
    a = d[0] ** 2 + d[1] ** 2 + d[2] ** 2
    b = 2.0 * (o[0] * d[0] + o[1] * d[1] + o[2] * d[2])
    disc = b * b - 4.0 * a * cc
    hit = disc >= 0
    with np.errstate(invalid='ignore'):
        z = (-b - np.sqrt(np.where(hit, disc, 0.0))) / (2.0 * a)
    hit &= z > NEAR_M
    q = np.stack([o[i] + z * d[i] for i in range(3)], -1)          # unit-sphere point
    grad = q / radii[None, None, :]                              # local normal direction
    n_c = grad @ (r_wc @ p.frame).T
    n_c /= np.linalg.norm(n_c, axis=-1, keepdims=True) + 1e-12
    zb.update(window, z, hit, n_c, index)


def _cast_cylinder(p: Primitive, r_wc: np.ndarray, centre: np.ndarray, rays: Rays,
                   zb: ZBuffer, index: int) -> None:
    radius, length = float(p.need('radii')[0]), float(p.need('radii')[2])
    axis = r_wc @ p.frame[:, 2]
    b0 = r_wc @ (p.origin - centre)
    window = _sphere_window(rays, b0 + axis * length / 2,
                            float(np.hypot(radius, length / 2)))
    if window is None:
        return
    b_axis = float(b0 @ axis)
    b_perp = b0 - b_axis * axis
    if b_perp @ b_perp < radius ** 2 and 0 <= -b_axis <= length:
        return  # the camera is inside
    x, y = rays.window(*window)
    # Per-component arithmetic on the window (no Nx3 temporaries): the ray is r = (x, y, 1).
    ra = axis[0] * x + axis[1] * y + axis[2]
    rp = (x - ra * axis[0], y - ra * axis[1], 1.0 - ra * axis[2])
    a = rp[0] * rp[0] + rp[1] * rp[1] + rp[2] * rp[2]
    bq = -2.0 * (rp[0] * b_perp[0] + rp[1] * b_perp[1] + rp[2] * b_perp[2])
    cq = float(b_perp @ b_perp) - radius ** 2
    disc = bq * bq - 4.0 * a * cq
    ok = (disc >= 0) & (a > 1e-12)
    with np.errstate(invalid='ignore', divide='ignore'):
        z_side = (-bq - np.sqrt(np.where(ok, disc, 0.0))) / (2.0 * a)
    h = z_side * ra - b_axis
    ok &= (z_side > NEAR_M) & (h >= 0) & (h <= length)
    z = np.where(ok, z_side, np.inf)
    cap_hit = np.zeros(z.shape, np.int8)
    for cap_h, code in ((0.0, 1), (length, 2)):
        cap_c = b0 + axis * cap_h
        with np.errstate(divide='ignore', invalid='ignore'):
            z_cap = (cap_c @ axis) / ra
            d2 = ((z_cap * x - cap_c[0]) ** 2 + (z_cap * y - cap_c[1]) ** 2
                  + (z_cap - cap_c[2]) ** 2)
        cap_ok = (d2 <= radius ** 2) & (z_cap > NEAR_M) & (z_cap < z)
        z = np.where(cap_ok, z_cap, z)
        cap_hit[cap_ok] = code
    hit = np.isfinite(z)
    if not hit.any():
        return
    v0, v1, u0, u1 = window
    sub = zb.depth[v0:v1, u0:u1]
    upd = hit & (z < sub)
    if not upd.any():
        return
    sub[upd] = z[upd]
    zb.ids[v0:v1, u0:u1][upd] = index
    zu, xu, yu = z[upd], x[upd], y[upd]
    point = np.stack([zu * xu, zu * yu, zu], -1) - b0
    along = point @ axis
    normal = (point - along[:, None] * axis) / radius
    caps = cap_hit[upd]
    normal[caps == 1] = -axis
    normal[caps == 2] = axis
    zb.normal[v0:v1, u0:u1][upd] = normal


def _cast_plane_primitive(p: Primitive, r_wc: np.ndarray, centre: np.ndarray, rays: Rays,
                          zb: ZBuffer, index: int) -> None:
    _cast_plane(p, r_wc @ p.normal, p.offset - p.normal @ centre, rays, zb, index)


# One caster per primitive kind: a new kind is one function and one entry here (or an entry
# its own module adds, as `render.clusters` does).
CASTERS: Dict[str, Callable[[Primitive, np.ndarray, np.ndarray, Rays, ZBuffer, int], None]] = {
    'plane': _cast_plane_primitive, 'polygon': _cast_polygon, 'ellipsoid': _cast_ellipsoid,
    'cylinder': _cast_cylinder}


def cast(primitives: List[Primitive], r_cw: np.ndarray, centre: np.ndarray,
         rays: Rays) -> ZBuffer:
    """Ray-cast every primitive from a camera at `centre` with rotation `r_cw` (camera->world).

    Returns the z-buffer with depth along the optical axis (metres; inf = sky), primitive
    indices (-1 = sky) and camera-frame normals.
    """
    r_wc = r_cw.T
    zb = ZBuffer(rays.height, rays.width)
    for index, p in enumerate(primitives):
        caster = CASTERS.get(p.kind)
        if caster is None:
            raise ValueError(f'unknown primitive kind {p.kind!r}; registered: {sorted(CASTERS)}')
        caster(p, r_wc, centre, rays, zb, index)
    return zb
