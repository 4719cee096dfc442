# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Many small surfaces cast as one primitive: sphere clouds (leaves) and tube sets (branches).

A tree has hundreds of branches and leaf clusters. Casting each as its own primitive costs a
Python round trip per surface and per view, so a cloud of spheres or a set of open tubes is
one primitive, cast in one vectorised pass: every surface gets the pixel box its projection
can touch, all (pixel, surface) candidates are intersected at once, and the nearest hit per
pixel is kept. Depth stays the exact ray-surface intersection, so a ray through a gap between
leaf clusters takes the depth of whatever lies behind, in both views alike.

Tubes are open cylinders (a ray entering through an open end sees the inner wall); trees close
thick joints with spheres. Surfaces that reach the near plane (within NEAR_M of the camera)
are left out of that view's cast.
"""

from typing import Iterator, Tuple

import numpy as np

from thermostereo_ros.data.render.primitives import (
    CASTERS, NEAR_M, Primitive, Rays, ZBuffer, _orthonormal)

# Candidate (pixel, surface) pairs per vectorised batch: bounds the temporaries' memory.
BATCH_CANDIDATES = 1_500_000
# A tube is split so that each piece spans at most this many pixels in the image: the pixel
# box of a long slanted branch is mostly empty, the boxes of its pieces are not.
TUBE_PIECE_PX = 8.0


def sphere_cloud(centre: np.ndarray, frame: np.ndarray, centres: np.ndarray,
                 radii: np.ndarray, material: int, tag: str = '') -> Primitive:
    """Spheres (N, 3) with radii (N,); texture attached to `frame` at `centre`."""
    return Primitive('spheres', np.asarray(centre, float), np.asarray(frame, float), material,
                     points=np.asarray(centres, float).reshape(-1, 3),
                     sizes=np.asarray(radii, float).reshape(-1), tag=tag)


def tube_set(starts: np.ndarray, ends: np.ndarray, radii: np.ndarray, material: int,
             tag: str = '') -> Primitive:
    """Open cylinders from `starts` to `ends` (N, 3) with radii (N,)."""
    starts = np.asarray(starts, float).reshape(-1, 3)
    ends = np.asarray(ends, float).reshape(-1, 3)
    frame = _orthonormal(np.array([0.0, -1.0, 0.0]), np.array([1.0, 0.0, 0.0]))
    return Primitive('tubes', starts[0].copy() if len(starts) else np.zeros(3), frame,
                     material, points=np.stack([starts, ends], 1),
                     sizes=np.asarray(radii, float).reshape(-1), tag=tag)


def _sphere_boxes(rays: Rays, c: np.ndarray, r: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Conservative pixel boxes [u0, u1) x [v0, v1) of spheres in front of the near plane."""
    near, far = c[:, 2] - r, c[:, 2] + r

    def bounds(coord: np.ndarray, f: float, centre: float, size: int
               ) -> Tuple[np.ndarray, np.ndarray]:
        hi_n = coord + r
        lo_n = coord - r
        hi = np.where(hi_n >= 0, hi_n / near, hi_n / far)
        lo = np.where(lo_n <= 0, lo_n / near, lo_n / far)
        return (np.clip(np.floor(f * lo + centre), 0, size).astype(np.int64),
                np.clip(np.ceil(f * hi + centre) + 1, 0, size).astype(np.int64))

    u0, u1 = bounds(c[:, 0], rays.fx, rays.cx, rays.width)
    v0, v1 = bounds(c[:, 1], rays.fy, rays.cy, rays.height)
    return u0, u1, v0, v1


def _candidates(u0: np.ndarray, u1: np.ndarray, v0: np.ndarray, v1: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat (surface index, u, v) of every pixel in every box."""
    nu, nv = np.maximum(u1 - u0, 0), np.maximum(v1 - v0, 0)
    area = nu * nv
    idx = np.repeat(np.arange(len(area)), area)
    local = np.arange(int(area.sum())) - np.repeat(np.cumsum(area) - area, area)
    return idx, u0[idx] + local % nu[idx], v0[idx] + local // nu[idx]


def _batches(area: np.ndarray) -> Iterator[slice]:
    """Slices of surfaces whose candidate counts add up to about BATCH_CANDIDATES."""
    start, total = 0, 0
    for i, a in enumerate(area):
        total += int(a)
        if total >= BATCH_CANDIDATES:
            yield slice(start, i + 1)
            start, total = i + 1, 0
    if start < len(area):
        yield slice(start, len(area))


def _keep_nearest(zb: ZBuffer, rays: Rays, u: np.ndarray, v: np.ndarray, z: np.ndarray,
                  normal: np.ndarray, index: int) -> None:
    """Write the nearest candidate per pixel into the z-buffer where it beats what is there."""
    pix = v * rays.width + u
    best = np.full(rays.height * rays.width, np.inf)
    np.minimum.at(best, pix, z)
    win = z <= best[pix]
    pix, z, normal = pix[win], z[win], normal[win]
    depth = zb.depth.reshape(-1)
    upd = z < depth[pix]
    pix = pix[upd]
    depth[pix] = z[upd]
    zb.ids.reshape(-1)[pix] = index
    zb.normal.reshape(-1, 3)[pix] = normal[upd]


def _cast_spheres(p: Primitive, r_wc: np.ndarray, centre: np.ndarray, rays: Rays,
                  zb: ZBuffer, index: int) -> None:
    c_all = (p.need('points') - centre) @ r_wc.T
    r_all = p.need('sizes')
    front = c_all[:, 2] - r_all > NEAR_M
    c_all, r_all = c_all[front], r_all[front]
    if not len(r_all):
        return
    u0, u1, v0, v1 = _sphere_boxes(rays, c_all, r_all)
    area = np.maximum(u1 - u0, 0) * np.maximum(v1 - v0, 0)
    for part in _batches(area):
        idx, u, v = _candidates(u0[part], u1[part], v0[part], v1[part])
        if not len(idx):
            continue
        c, r = c_all[part][idx], r_all[part][idx]
        dx, dy = rays.x[0, u], rays.y[v, 0]
        # |t d - c|^2 = r^2 with d = (dx, dy, 1): a t^2 - 2 b t + cc = 0; z = t.
        a = dx * dx + dy * dy + 1.0
        b = dx * c[:, 0] + dy * c[:, 1] + c[:, 2]
        disc = b * b - a * ((c * c).sum(1) - r * r)
        hit = disc >= 0
        if not hit.any():
            continue
        c, r, dx, dy, u, v = c[hit], r[hit], dx[hit], dy[hit], u[hit], v[hit]
        z = (b[hit] - np.sqrt(disc[hit])) / a[hit]
        normal = (np.stack([dx * z, dy * z, z], 1) - c) / r[:, None]
        _keep_nearest(zb, rays, u, v, z, normal, index)


def _split_tubes(rays: Rays, a: np.ndarray, b: np.ndarray, r: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip tubes to the near plane and split them into pieces of at most TUBE_PIECE_PX."""
    lim = NEAR_M + r + 1e-3
    za, zbz = a[:, 2], b[:, 2]
    keep = (za > lim) | (zbz > lim)
    a, b, r, lim, za, zbz = a[keep], b[keep], r[keep], lim[keep], za[keep], zbz[keep]
    with np.errstate(divide='ignore', invalid='ignore'):
        t = np.clip((lim - za) / (zbz - za), 0.0, 1.0)
    a = np.where((za < lim)[:, None], a + t[:, None] * (b - a), a)
    b = np.where((zbz < lim)[:, None], a + t[:, None] * (b - a), b)
    pa = a[:, :2] / a[:, 2:] * [rays.fx, rays.fy]
    pb = b[:, :2] / b[:, 2:] * [rays.fx, rays.fy]
    pieces = np.clip(np.ceil(np.linalg.norm(pb - pa, axis=1) / TUBE_PIECE_PX), 1, 256)
    pieces = pieces.astype(np.int64)
    idx = np.repeat(np.arange(len(r)), pieces)
    k = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    t0 = (k / pieces[idx])[:, None]
    t1 = ((k + 1) / pieces[idx])[:, None]
    d = b[idx] - a[idx]
    return a[idx] + t0 * d, a[idx] + t1 * d, r[idx]


def _cast_tubes(p: Primitive, r_wc: np.ndarray, centre: np.ndarray, rays: Rays,
                zb: ZBuffer, index: int) -> None:
    ends = (p.need('points') - centre) @ r_wc.T
    a_all, b_all, r_all = _split_tubes(rays, ends[:, 0], ends[:, 1], p.need('sizes'))
    if not len(r_all):
        return
    # The tube lies inside the convex hull of its two end spheres: the union of their boxes.
    ua0, ua1, va0, va1 = _sphere_boxes(rays, a_all, r_all)
    ub0, ub1, vb0, vb1 = _sphere_boxes(rays, b_all, r_all)
    u0, u1 = np.minimum(ua0, ub0), np.maximum(ua1, ub1)
    v0, v1 = np.minimum(va0, vb0), np.maximum(va1, vb1)
    area = np.maximum(u1 - u0, 0) * np.maximum(v1 - v0, 0)
    for part in _batches(area):
        idx, u, v = _candidates(u0[part], u1[part], v0[part], v1[part])
        if not len(idx):
            continue
        base, tip, r = a_all[part][idx], b_all[part][idx], r_all[part][idx]
        axis = tip - base
        length = np.linalg.norm(axis, axis=1)
        axis /= np.maximum(length, 1e-12)[:, None]
        d = np.stack([rays.x[0, u], rays.y[v, 0], np.ones(len(u))], 1)
        w = -base                                   # ray origin (camera) minus tube base
        da, wa = (d * axis).sum(1), (w * axis).sum(1)
        dp, wp = d - da[:, None] * axis, w - wa[:, None] * axis
        qa = (dp * dp).sum(1)
        qb = 2.0 * (dp * wp).sum(1)
        qc = (wp * wp).sum(1) - r * r
        disc = qb * qb - 4.0 * qa * qc
        ok = (disc >= 0) & (qa > 1e-12)
        root = np.sqrt(np.where(ok, disc, 0.0))
        with np.errstate(divide='ignore', invalid='ignore'):
            z = np.full(len(u), np.inf)
            for sign in (1.0, -1.0):     # far root first, so the near root wins where valid
                t = (-qb + sign * root) / (2.0 * qa)
                h = wa + t * da
                good = ok & (t > NEAR_M) & (h >= 0) & (h <= length)
                z = np.where(good, t, z)
        hit = np.isfinite(z)
        if not hit.any():
            continue
        z, d, base, axis, r, u, v = z[hit], d[hit], base[hit], axis[hit], r[hit], u[hit], v[hit]
        rel = d * z[:, None] - base
        normal = (rel - (rel * axis).sum(1)[:, None] * axis) / r[:, None]
        _keep_nearest(zb, rays, u, v, z, normal, index)


CASTERS['spheres'] = _cast_spheres
CASTERS['tubes'] = _cast_tubes
