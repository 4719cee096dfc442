# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Procedural rectified thermal stereo pairs with exact disparity, for training and tests.

A scene is a set of planar polygons in a world frame (x right, y down, z forward; the
ground is the plane y = camera height): a ground plane, vertical rectangles standing on it
(fronto-parallel or yawed, i.e. slanted in disparity), boxes, side walls, warm elliptic
blobs (people) and a far tree/building line. Every surface carries a temperature field
attached to the surface itself (low-frequency periodic noise sampled at surface
coordinates, plus warm spots such as engines), and the sky's temperature depends on the
ray direction only, so it has zero disparity.

Both views are rendered by ray casting the same scene with a disparity z-buffer (a
planar surface's disparity is affine in pixel coordinates, so each polygon is one
`cv2.fillPoly` mask and one affine map; nearer wins). The right view is *not* made by
forward-warping the left image: ray casting gives exact sub-pixel correspondences and
correct texture in the regions disoccluded in the right view, where a warp would have to
invent it. `occluded` marks left pixels whose match falls outside the right image or
behind a nearer surface of the right view's z-buffer.

Sensor model: optics blur, per-camera gain/offset and radial (narcissus-like) offset,
fixed-pattern column noise, temporal noise, quantised to uint16 counts in 14 bits
(scenes lie roughly in 3000-6000 counts). `condition` changes contrast and noise like the
MS2 splits: night has lower contrast than day, rain has wet, nearly isothermal surfaces,
a warm overcast sky and more noise.

Default camera (documented assumption, not copied from MS2's calib.npy): fx = fy = 430 px
at 640 px width (scaled with width, i.e. a ~73 degree horizontal field of view),
principal point at the image centre, baseline 0.30 m, i.e. fx * B = 129 px m. Disparity
at depth Z is 129 / Z px at 640x256.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

CONDITIONS = ('day', 'night', 'rain')
DEFAULT_FX_AT_640 = 430.0
DEFAULT_BASELINE_M = 0.30
COUNT_MAX = 16383  # 14-bit sensor
_TILE = 64  # periodic noise tile size (texels)
_NEAR_M = 0.15

# Per condition: ambient counts, contrast scale, sky counts range, temporal noise sigma,
# column noise sigma, blur sigma range.
_CONDITION_PARAMS: Dict[str, Dict[str, object]] = {
    'day': dict(ambient=4400.0, contrast=1.0, sky=(3000.0, 3400.0), noise=6.0, fpn=5.0,
                blur=(0.6, 1.0)),
    'night': dict(ambient=4050.0, contrast=0.5, sky=(3000.0, 3250.0), noise=9.0, fpn=7.0,
                  blur=(0.6, 1.0)),
    'rain': dict(ambient=3950.0, contrast=0.3, sky=(3550.0, 3800.0), noise=15.0, fpn=8.0,
                 blur=(0.9, 1.4)),
}


@dataclass(frozen=True)
class ThermalCamera:
    """Rectified pinhole stereo camera: intrinsics of both views and the baseline."""

    fx: float
    fy: float
    cx: float
    cy: float
    baseline: float
    width: int
    height: int

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the intrinsic matrix
        """3x3 float64 intrinsic matrix (identical for both rectified views)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def disparity_to_depth(self, disparity: np.ndarray) -> np.ndarray:
        """Depth in metres (inf where disparity <= 0)."""
        d = np.asarray(disparity, dtype=np.float32)
        with np.errstate(divide='ignore'):
            return np.where(d > 0, np.float32(self.fx * self.baseline) / d, np.inf)


def default_camera(height: int = 256, width: int = 640) -> ThermalCamera:
    """Return the default camera: fx = 430 px scaled to `width`, centred, 0.30 m baseline."""
    f = DEFAULT_FX_AT_640 * width / 640.0
    return ThermalCamera(fx=f, fy=f, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0,
                         baseline=DEFAULT_BASELINE_M, width=width, height=height)


@dataclass
class SyntheticPair:
    """One rendered pair; all arrays are HxW and describe the left view unless named."""

    left: np.ndarray          # uint16 raw counts
    right: np.ndarray         # uint16 raw counts
    disparity: np.ndarray     # float32, dense ground truth for the left view (sky: 0)
    sparse_valid: np.ndarray  # bool, LiDAR-like scan lines, never on sky
    occluded: np.ndarray      # bool, left pixels not visible in the right view
    sky: np.ndarray           # bool
    camera: ThermalCamera
    condition: str
    seed: int
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))  # left camera to world
    timestamp: float = 0.0


@dataclass
class _Scene:
    """World description; primitive 0 is the infinite ground plane."""

    normals: np.ndarray   # (K, 3) world plane normals
    offsets: np.ndarray   # (K,) plane n . X = offset in world coordinates
    polygons: List[Optional[np.ndarray]]  # (n, 3) world vertices; None for the ground
    axis_u: np.ndarray    # (K, 3) in-plane texture axes
    axis_v: np.ndarray
    origin: np.ndarray    # (K, 3)
    base: np.ndarray      # (K,) counts
    amp: np.ndarray       # (K, 2) coarse / fine texture amplitude (counts)
    scale: np.ndarray     # (K, 2) texels per metre
    tex_offset: np.ndarray  # (K, 2) texels
    hot: np.ndarray       # (K, 4) warm spot: amplitude, s0, t0, sigma (m)
    tiles: Tuple[np.ndarray, np.ndarray]
    sky_low: float
    sky_high: float
    sky_amp: float


def _periodic_noise(rng: np.random.Generator, sigma_texels: float) -> np.ndarray:
    """Smooth zero-mean unit-variance noise that tiles seamlessly (filtered in Fourier)."""
    white = rng.standard_normal((_TILE, _TILE))
    freq = np.fft.fftfreq(_TILE)
    f2 = freq[:, None] ** 2 + freq[None, :] ** 2
    spectrum = np.fft.fft2(white) * np.exp(-2.0 * (np.pi * sigma_texels) ** 2 * f2)
    tile = np.real(np.fft.ifft2(spectrum))
    tile -= tile.mean()
    tile /= tile.std() + 1e-9
    return tile.astype(np.float32)


class _SceneBuilder:
    """Accumulates primitives; keeps per-primitive parameters in parallel lists."""

    def __init__(self, rng: np.random.Generator, condition: str):
        self.rng = rng
        self.p = _CONDITION_PARAMS[condition]
        self.items: List[dict] = []

    def texture(self, contrast: float = 1.0, base: Optional[float] = None,
                textureless: Optional[bool] = None) -> dict:
        rng, p = self.rng, self.p
        c = float(p['contrast']) * contrast
        if base is None:
            base = float(p['ambient']) + c * rng.normal(0.0, 350.0)
        if textureless is None:
            # Thermal scenes have large near-uniform regions: a third of surfaces gets
            # almost no texture.
            textureless = rng.random() < 0.35
        weak = 0.12 if textureless else 1.0
        return dict(base=base,
                    amp=(c * weak * rng.uniform(60, 260), c * weak * rng.uniform(15, 90)),
                    scale=(8.0 / rng.uniform(0.4, 3.0), 8.0 / rng.uniform(0.04, 0.3)),
                    tex_offset=rng.uniform(0, _TILE, 2), hot=(0.0, 0.0, 0.0, 1.0))

    def add(self, vertices: Optional[np.ndarray], normal: np.ndarray, point: np.ndarray,
            axis_u: np.ndarray, axis_v: np.ndarray, tex: dict) -> None:
        normal = np.asarray(normal, float) / np.linalg.norm(normal)
        self.items.append(dict(vertices=vertices, normal=normal,
                               offset=float(normal @ point), axis_u=np.asarray(axis_u, float),
                               axis_v=np.asarray(axis_v, float), origin=np.asarray(point, float),
                               **tex))

    def rectangle(self, ground_point: np.ndarray, width: float, height: float, yaw: float,
                  tex: dict, lift: float = 0.0) -> None:
        """Vertical rectangle standing on (or `lift` metres above) the ground."""
        u = np.array([np.cos(yaw), 0.0, np.sin(yaw)])
        up = np.array([0.0, -1.0, 0.0])
        g = np.asarray(ground_point, float) + up * lift
        verts = np.stack([g - u * width / 2, g + u * width / 2,
                          g + u * width / 2 + up * height, g - u * width / 2 + up * height])
        self.add(verts, np.cross(u, up), g, u, up, tex)

    def ellipse(self, centre: np.ndarray, rx: float, ry: float, yaw: float, tex: dict,
                n: int = 14) -> None:
        u = np.array([np.cos(yaw), 0.0, np.sin(yaw)])
        up = np.array([0.0, -1.0, 0.0])
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        verts = centre + np.cos(a)[:, None] * rx * u + np.sin(a)[:, None] * ry * up
        self.add(verts, np.cross(u, up), np.asarray(centre, float), u, up, tex)

    def box(self, ground_point: np.ndarray, width: float, depth: float, height: float,
            yaw: float, tex: dict) -> None:
        """Add a closed box: four vertical faces and a top; the z-buffer keeps the visible."""
        u = np.array([np.cos(yaw), 0.0, np.sin(yaw)])
        w = np.array([-np.sin(yaw), 0.0, np.cos(yaw)])
        g = np.asarray(ground_point, float)
        for centre, axis, length in ((g - w * depth / 2, u, width), (g + w * depth / 2, u, width),
                                     (g - u * width / 2, w, depth), (g + u * width / 2, w, depth)):
            self.rectangle(centre, length, height, float(np.arctan2(axis[2], axis[0])), tex)
        up = np.array([0.0, -1.0, 0.0])
        top = g + up * height
        hu, hw = u * width / 2, w * depth / 2
        verts = np.stack([top - hu - hw, top + hu - hw, top + hu + hw, top - hu + hw])
        self.add(verts, up, top, u, w, tex)

    def build(self, sky: Tuple[float, float], sky_amp: float) -> _Scene:
        it = self.items
        return _Scene(
            normals=np.array([i['normal'] for i in it]),
            offsets=np.array([i['offset'] for i in it]),
            polygons=[i['vertices'] for i in it],
            axis_u=np.array([i['axis_u'] for i in it]),
            axis_v=np.array([i['axis_v'] for i in it]),
            origin=np.array([i['origin'] for i in it]),
            base=np.array([i['base'] for i in it], np.float32),
            amp=np.array([i['amp'] for i in it], np.float32),
            scale=np.array([i['scale'] for i in it], np.float32),
            tex_offset=np.array([i['tex_offset'] for i in it], np.float32),
            hot=np.array([i['hot'] for i in it], np.float32),
            tiles=(_periodic_noise(self.rng, 3.0), _periodic_noise(self.rng, 1.5)),
            sky_low=sky[0], sky_high=sky[1], sky_amp=sky_amp)


def _make_world(rng: np.random.Generator, camera: ThermalCamera, max_disparity: float,
                condition: str, path_length: float) -> Tuple[_Scene, float, float, float]:
    """Random world; returns the scene, camera height, pitch and roll (radians)."""
    p = _CONDITION_PARAMS[condition]
    b = _SceneBuilder(rng, condition)
    fb = camera.fx * camera.baseline
    drone = rng.random() < 0.2
    if drone:
        height, pitch = rng.uniform(2.0, 8.0), np.radians(rng.uniform(15, 40))
    else:
        height, pitch = np.exp(rng.uniform(np.log(0.3), np.log(1.8))), \
            np.radians(rng.uniform(-2, 8))
    roll = np.radians(rng.uniform(-2, 2))
    # Keep the nearest ground (bottom image row) below ~0.65 of the disparity range.
    ray_y = (camera.height - 1 - camera.cy) / camera.fy
    inv_depth_per_height = np.cos(pitch) * ray_y + np.sin(pitch)
    height = max(height, fb * inv_depth_per_height / (0.65 * max_disparity))

    ground_tex = b.texture(contrast=1.0, base=float(p['ambient']) + float(p['contrast']) *
                           rng.uniform(-150, 450), textureless=False)
    ground_tex['scale'] = (8.0 / rng.uniform(0.8, 4.0), 8.0 / rng.uniform(0.05, 0.25))
    b.add(None, np.array([0.0, 1.0, 0.0]), np.array([0.0, height, 0.0]),
          np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), ground_tex)

    half_fov = np.arctan((camera.width / 2) / camera.fx)
    far = 70.0 + path_length

    def lateral(z: float) -> float:
        return rng.uniform(-1.0, 1.0) * (z * np.tan(half_fov) + 1.0)

    # Side walls (buildings along a street): strongly slanted planes.
    for side in (-1, 1):
        if rng.random() < 0.45:
            x = side * rng.uniform(2.5, 12.0)
            z0 = rng.uniform(-5, 10)
            b.rectangle(np.array([x, height, z0 + (far - z0) / 2]), far - z0,
                        rng.uniform(3, 15), np.pi / 2, b.texture())
    # Far tree / building line with an irregular top edge, so the sky boundary is not a line.
    z_far = rng.uniform(60, 150) + path_length
    n_top = 24
    xs = np.linspace(-1.6, 1.6, n_top) * z_far * np.tan(half_fov) + rng.uniform(-5, 5)
    tops = height - rng.uniform(2, 10, n_top)
    verts = np.concatenate([np.stack([xs, tops, np.full(n_top, z_far)], 1),
                            [[xs[-1], height, z_far], [xs[0], height, z_far]]])
    b.add(verts, np.array([0.0, 0.0, -1.0]), np.array([0.0, height, z_far]),
          np.array([1.0, 0.0, 0.0]), np.array([0.0, -1.0, 0.0]),
          b.texture(contrast=0.6))

    n_objects = int(rng.integers(5, 14)) + int(path_length / 8)
    n_near = int(rng.integers(1, 4))
    for k in range(n_objects):
        if k < n_near:
            # Guarantee near surfaces: disparity 25-60 % of the range.
            z = fb / (rng.uniform(0.25, 0.6) * max_disparity)
            x = rng.uniform(-0.8, 0.8) * z * np.tan(half_fov)
        else:
            z = np.exp(rng.uniform(np.log(3.0), np.log(far)))
            x = lateral(min(z, 60.0))
        g = np.array([x, height, z])
        kind = rng.random()
        yaw = 0.0 if rng.random() < 0.5 else rng.uniform(-1.2, 1.2)
        if kind < 0.4:
            # Near objects stay narrow so they do not fill the whole view.
            width = rng.uniform(0.3, 1.5) if k < n_near else rng.uniform(0.4, 6.0)
            if z - abs(np.sin(yaw)) * width / 2 < fb / (0.6 * max_disparity):
                yaw = 0.0  # a yawed plane this close would reach past the disparity budget
            b.rectangle(g, width, rng.uniform(0.5, 4.0), yaw, b.texture())
        elif kind < 0.65:
            size = rng.uniform(1.5, 4.5, 2)
            if z < fb / (0.6 * max_disparity) + size.max():
                # A box this close would reach behind the camera: use a rectangle.
                b.rectangle(g, size[0], rng.uniform(0.5, 2.5), yaw, b.texture())
                continue
            tex = b.texture()
            if rng.random() < 0.5:  # engine / exhaust: a warm spot low on the box
                tex['hot'] = (float(p['contrast']) * rng.uniform(300, 1200) + 200,
                              rng.uniform(-1, 1), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.6))
            b.box(g, size[0], size[1], rng.uniform(1.0, 2.5),
                  rng.uniform(0, np.pi), tex)
        elif kind < 0.85:
            # Person: warm body and head, still warm at night (ambient-independent).
            body = rng.uniform(5000, 5600)
            tex = b.texture(base=body, textureless=True)
            tall = rng.uniform(1.4, 1.9)
            yaw_p = rng.uniform(-0.3, 0.3)
            b.ellipse(g + np.array([0, -tall * 0.42, 0]), 0.25, tall * 0.42, yaw_p, tex)
            b.ellipse(g + np.array([0, -tall * 0.92, 0]), 0.11, 0.12, yaw_p,
                      b.texture(base=body + 200, textureless=True), n=10)
        else:
            # Pole / trunk: thin fronto-parallel strip.
            b.rectangle(g, rng.uniform(0.15, 0.6), rng.uniform(2.0, 8.0), 0.0, b.texture())
    sky = p['sky']
    low = rng.uniform(sky[0], (sky[0] + sky[1]) / 2)
    return b.build((low, rng.uniform(low, sky[1])), float(p['contrast']) * rng.uniform(20, 120)), \
        height, pitch, roll


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world rotation; positive pitch looks down (world y is down)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(-pitch), np.sin(-pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def _clip_near(verts: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-frame polygon against z >= near."""
    if np.all(verts[:, 2] >= _NEAR_M):
        return verts
    out = []
    n = len(verts)
    for i in range(n):
        a, b = verts[i], verts[(i + 1) % n]
        ina, inb = a[2] >= _NEAR_M, b[2] >= _NEAR_M
        if ina:
            out.append(a)
        if ina != inb:
            t = (_NEAR_M - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if len(out) >= 3 else np.zeros((0, 3))


def _grid(camera: ThermalCamera) -> Tuple[np.ndarray, np.ndarray]:
    """Normalised ray coordinates x = (u - cx) / fx and y = (v - cy) / fy as HxW float32."""
    u = (np.arange(camera.width, dtype=np.float32) - camera.cx) / camera.fx
    v = (np.arange(camera.height, dtype=np.float32) - camera.cy) / camera.fy
    return np.broadcast_to(u[None, :], (camera.height, camera.width)), \
        np.broadcast_to(v[:, None], (camera.height, camera.width))


def _rasterise(scene: _Scene, camera: ThermalCamera, r_cw: np.ndarray, centre: np.ndarray,
               rays: Tuple[np.ndarray, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Disparity z-buffer and primitive ids (-1 = sky) of one view."""
    h, w = camera.height, camera.width
    fb = camera.fx * camera.baseline
    rx, ry = rays
    r_wc = r_cw.T
    n_cam = scene.normals @ r_cw            # rows: R_wc n
    c_cam = scene.offsets - scene.normals @ centre
    disp = np.zeros((h, w), np.float32)
    ids = np.full((h, w), -1, np.int16)
    # Ground: a plane's inverse depth is affine in the ray coordinates.
    if c_cam[0] > 1e-6:
        g = (n_cam[0, 0] * rx + n_cam[0, 1] * ry + n_cam[0, 2]) * np.float32(fb / c_cam[0])
        hit = g > 1e-4
        disp[hit] = g[hit]
        ids[hit] = 0
    for k in range(1, len(scene.polygons)):
        if abs(c_cam[k]) < 1e-6:
            continue  # seen edge-on
        verts = _clip_near((scene.polygons[k] - centre) @ r_wc.T)
        if len(verts) == 0:
            continue
        pu = camera.fx * verts[:, 0] / verts[:, 2] + camera.cx
        pv = camera.fy * verts[:, 1] / verts[:, 2] + camera.cy
        u0, u1 = max(int(np.floor(pu.min())), 0), min(int(np.ceil(pu.max())) + 1, w)
        v0, v1 = max(int(np.floor(pv.min())), 0), min(int(np.ceil(pv.max())) + 1, h)
        if u0 >= u1 or v0 >= v1:
            continue
        mask = np.zeros((v1 - v0, u1 - u0), np.uint8)
        # 4 fractional bits: sub-pixel polygon edges.
        pts = np.round(np.stack([pu - u0, pv - v0], 1) * 16).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
        n = n_cam[k] * np.float32(fb / c_cam[k])
        d = n[0] * rx[v0:v1, u0:u1] + n[1] * ry[v0:v1, u0:u1] + n[2]
        # A planar polygon's disparity is extreme at its vertices; clamping stops pixels that
        # the rasteriser fills just outside a grazing polygon from extrapolating wildly.
        np.clip(d, fb / verts[:, 2].max(), fb / verts[:, 2].min(), out=d)
        sub = disp[v0:v1, u0:u1]
        upd = (mask > 0) & (d > sub)
        sub[upd] = d[upd]
        ids[v0:v1, u0:u1][upd] = k
    return disp, ids


def _shade(scene: _Scene, camera: ThermalCamera, r_cw: np.ndarray, centre: np.ndarray,
           rays: Tuple[np.ndarray, np.ndarray], disp: np.ndarray, ids: np.ndarray
           ) -> np.ndarray:
    """Noise-free radiance (counts) of one view from surface-attached temperature fields."""
    fb = np.float32(camera.fx * camera.baseline)
    rx, ry = rays
    sky = ids < 0
    # Sky: a function of the world ray direction only (zero disparity); warmer at the horizon.
    dx = r_cw[0, 0] * rx + r_cw[0, 1] * ry + r_cw[0, 2]
    dy = r_cw[1, 0] * rx + r_cw[1, 1] * ry + r_cw[1, 2]
    dz = r_cw[2, 0] * rx + r_cw[2, 1] * ry + r_cw[2, 2]
    elev = np.arctan2(-dy, np.hypot(dx, dz))
    azim = np.arctan2(dx, dz)
    clouds = cv2.remap(scene.tiles[0], (azim * 40.0 % _TILE).astype(np.float32),
                       (elev * 80.0 % _TILE).astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_WRAP)
    sky_val = scene.sky_high - (scene.sky_high - scene.sky_low) * np.clip(elev / 0.6, 0, 1) \
        + scene.sky_amp * clouds
    # Surfaces: evaluated on the full grid (remap needs image-shaped maps); sky replaced last.
    k = np.maximum(ids, 0).astype(np.intp)
    d = np.maximum(disp, np.float32(1e-4))
    z = fb / d
    pc = np.stack([rx * z, ry * z, z], -1)
    pw = pc @ r_cw.T.astype(np.float32) + (centre - scene.origin[k]).astype(np.float32)
    s = np.einsum('hwj,hwj->hw', pw, scene.axis_u[k].astype(np.float32))
    t = np.einsum('hwj,hwj->hw', pw, scene.axis_v[k].astype(np.float32))
    val = scene.base[k]
    for octave in (0, 1):
        scale = scene.scale[k, octave]
        # Texture feature size in pixels; fade out what the pixel grid would alias.
        feat_px = (8.0 / scale) * d / np.float32(camera.baseline)
        fade = np.clip((feat_px - 1.0) * 0.5, 0.0, 1.0)
        mu = (s * scale + scene.tex_offset[k, 0]) % _TILE
        mv = (t * scale + scene.tex_offset[k, 1]) % _TILE
        noise = cv2.remap(scene.tiles[octave], mu.astype(np.float32), mv.astype(np.float32),
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        val += scene.amp[k, octave] * fade * noise
    hot = scene.hot[k]
    warm = (hot[..., 0] > 0) & ~sky
    if np.any(warm):
        r2 = (s[warm] - hot[warm, 1]) ** 2 + (t[warm] - hot[warm, 2]) ** 2
        val[warm] += hot[warm, 0] * np.exp(-r2 / (2 * hot[warm, 3] ** 2))
    out = np.where(sky, sky_val, val).astype(np.float32)
    return out


def _sensor_model(rng: np.random.Generator, condition: str, height: int, width: int,
                  ambient: float) -> dict:
    """Per-camera constants: gain/offset, radial offset and fixed-pattern column noise."""
    p = _CONDITION_PARAMS[condition]
    yy, xx = np.ogrid[:height, :width]
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (width / 2)) ** 2
    return dict(ambient=ambient, gain=rng.uniform(0.97, 1.03), offset=rng.uniform(-40, 40),
                radial=(rng.uniform(-50, 50) * r2).astype(np.float32),
                columns=rng.normal(0.0, float(p['fpn']), (1, width)).astype(np.float32))


def _sensor(radiance: np.ndarray, rng: np.random.Generator, condition: str, blur: float,
            model: dict) -> np.ndarray:
    """Optics blur, the camera's fixed model, temporal noise; quantised to uint16 counts."""
    noise = float(_CONDITION_PARAMS[condition]['noise'])
    img = cv2.GaussianBlur(radiance, (0, 0), blur)
    a = model['ambient']
    img = a + model['gain'] * (img - a) + model['offset'] + model['radial'] + model['columns']
    img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, COUNT_MAX).astype(np.uint16)


def _occlusion(disp_left: np.ndarray, disp_right: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Left pixels whose match x - d leaves the image or lies behind a nearer right surface."""
    h, w = disp_left.shape
    xr = np.arange(w, dtype=np.float32)[None, :] - disp_left
    outside = xr < -0.5
    xi = np.clip(np.rint(xr), 0, w - 1).astype(np.intp)
    seen = np.take_along_axis(disp_right, xi, axis=1)
    # 1 px tolerance absorbs rasterisation of polygon edges at integer pixel centres.
    return (outside | (seen > disp_left + 1.0)) & ~sky


def _lidar_mask(rng: np.random.Generator, camera: ThermalCamera, valid: np.ndarray,
                density: float = 0.05) -> np.ndarray:
    """LiDAR-like scan lines: constant-elevation cones project to gently curved rows."""
    h, w = valid.shape
    keep = 0.85  # per-point return probability
    n_beams = max(1, int(round(density * h / keep)))
    rows = np.linspace(0, h, n_beams, endpoint=False) + rng.uniform(0, h / n_beams)
    t = (rows - camera.cy) / camera.fy
    x = (np.arange(w) - camera.cx) / camera.fx
    v = np.rint(camera.cy + camera.fy * t[:, None] * np.sqrt(1 + x[None, :] ** 2)).astype(int)
    u = np.broadcast_to(np.arange(w), v.shape)
    ok = (v >= 0) & (v < h) & (rng.random(v.shape) < keep)
    mask = np.zeros((h, w), bool)
    mask[v[ok], u[ok]] = True
    return mask & valid


def _check_condition(condition: str) -> None:
    if condition not in CONDITIONS:
        raise ValueError(f'condition {condition!r} is not one of {CONDITIONS}')


def render_sequence(seed: int, frames: int, height: int = 256, width: int = 640,
                    max_disparity: float = 192, condition: str = 'day',
                    fps: float = 10.0, camera: Optional[ThermalCamera] = None
                    ) -> List[SyntheticPair]:
    """Render `frames` consecutive pairs of one world along a smooth forward/turning path.

    The world is populated along the whole path, so it depends on (seed, frames);
    `render_pair(s)` equals `render_sequence(s, 1)[0]`. `pose` is the left camera's
    camera-to-world 4x4 transform (x right, y down, z forward); `timestamp` is i / fps s.
    """
    _check_condition(condition)
    if frames < 1:
        raise ValueError('frames must be >= 1')
    camera = camera or default_camera(height, width)
    rng = np.random.default_rng(seed)
    speed = rng.uniform(0.3, 1.2)      # metres per frame
    scene, cam_h, pitch, roll = _make_world(rng, camera, max_disparity, condition,
                                            speed * (frames - 1))
    p = _CONDITION_PARAMS[condition]
    blur = rng.uniform(*p['blur'])
    yaw_amp, yaw_w, yaw_ph = rng.uniform(0, 0.02), rng.uniform(0.05, 0.2), rng.uniform(0, 6.3)
    rays = _grid(camera)
    ambient = float(p['ambient'])
    sensors = [_sensor_model(rng, condition, camera.height, camera.width, ambient)
               for _ in range(2)]
    out = []
    yaw, centre = 0.0, np.zeros(3)
    for i in range(frames):
        if i:
            # Smooth turning: the yaw rate is a slow sinusoid, zero at the start.
            yaw += yaw_amp * (np.sin(yaw_w * i + yaw_ph) - np.sin(yaw_ph))
            centre = centre + speed * np.array([np.sin(yaw), 0.0, np.cos(yaw)])
        r_cw = _rotation(yaw, pitch, roll)
        right_centre = centre + r_cw[:, 0] * camera.baseline
        disp_l, ids_l = _rasterise(scene, camera, r_cw, centre, rays)
        disp_r, ids_r = _rasterise(scene, camera, r_cw, right_centre, rays)
        rad_l = _shade(scene, camera, r_cw, centre, rays, disp_l, ids_l)
        rad_r = _shade(scene, camera, r_cw, right_centre, rays, disp_r, ids_r)
        frame_rng = np.random.default_rng([seed, i])
        sky = ids_l < 0
        valid = ~sky & (disp_l < max_disparity)
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = r_cw, centre
        out.append(SyntheticPair(
            left=_sensor(rad_l, frame_rng, condition, blur, sensors[0]),
            right=_sensor(rad_r, frame_rng, condition, blur, sensors[1]),
            disparity=disp_l, sparse_valid=_lidar_mask(frame_rng, camera, valid),
            occluded=_occlusion(disp_l, disp_r, sky), sky=sky, camera=camera,
            condition=condition, seed=seed, pose=pose, timestamp=i / fps))
    return out


def render_pair(seed: int, height: int = 256, width: int = 640, max_disparity: float = 192,
                condition: str = 'day', camera: Optional[ThermalCamera] = None
                ) -> SyntheticPair:
    """Render one deterministic rectified thermal pair (see the module docstring)."""
    return render_sequence(seed, 1, height, width, max_disparity, condition, camera=camera)[0]
