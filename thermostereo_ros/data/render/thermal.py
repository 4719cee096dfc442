# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Thermal appearance: materials, conditions and the radiance (in sensor counts) of a view.

A material is a temperature (in counts of a 14-bit sensor; ambient scenes lie around
3000-6000) plus texture at three scales (coarse blotches, mid-scale grain and the finest
grain such as asphalt, foliage or brick), an optional procedural pattern (brick courses,
window grids, lane markings, fins) and warm spots in the primitive's local frame (engines,
exhausts, faces). Every value is a function of the surface point, not of the view, so the
two cameras see the same radiance at corresponding points and the ground-truth disparity is
the only thing that relates them.

Conditions follow MS2's splits. Day: solar load on surfaces facing the sun, strong contrast
and a cold clear sky. Night: low contrast, surfaces facing the sky cool below ambient, people,
engines and lit windows stay warm. Rain: wet, nearly isothermal surfaces, a warm overcast sky,
more noise. Dawn and dusk bring thermal crossover, drawn within day and night: material
differences shrink to a tenth and edges nearly vanish.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import numpy as np

from thermostereo_ros.data.render import textures
from thermostereo_ros.data.render.textures import bilinear_wrap

CONDITIONS = ('day', 'night', 'rain')
TILE = 64

PATTERN_NONE, PATTERN_BRICK, PATTERN_WINDOWS, PATTERN_LANES, PATTERN_FINS = range(5)

# ambient counts, contrast scale, sky counts (low, high), temporal noise sigma, column noise,
# blur sigma range, solar load (counts at normal incidence), sky cooling (counts).
CONDITION_PARAMS: Dict[str, Dict[str, Any]] = {
    'day': dict(ambient=4400.0, contrast=1.0, sky=(3000.0, 3400.0), noise=6.0, fpn=5.0,
                blur=(0.5, 1.0), solar=500.0, cooling=0.0),
    'night': dict(ambient=4050.0, contrast=0.5, sky=(2900.0, 3250.0), noise=9.0, fpn=7.0,
                  blur=(0.5, 1.0), solar=0.0, cooling=180.0),
    'rain': dict(ambient=3950.0, contrast=0.3, sky=(3550.0, 3800.0), noise=14.0, fpn=8.0,
                 blur=(0.8, 1.4), solar=60.0, cooling=20.0),
}
CROSSOVER_PROBABILITY = 0.15  # share of day and night scenes drawn at dawn or dusk


def check_condition(condition: str) -> None:
    """Raise ValueError for an unknown condition, naming the valid ones."""
    if condition not in CONDITIONS:
        raise ValueError(f'condition {condition!r} is not one of {CONDITIONS}')


def periodic_noise(rng: np.random.Generator, sigma_texels: float) -> np.ndarray:
    """Smooth zero-mean unit-variance noise that tiles seamlessly (filtered in Fourier)."""
    white = rng.standard_normal((TILE, TILE))
    freq = np.fft.fftfreq(TILE)
    f2 = freq[:, None] ** 2 + freq[None, :] ** 2
    spectrum = np.fft.fft2(white) * np.exp(-2.0 * (np.pi * sigma_texels) ** 2 * f2)
    tile = np.real(np.fft.ifft2(spectrum))
    tile -= tile.mean()
    tile /= tile.std() + 1e-9
    return tile.astype(np.float32)


# Correlation length (texels) of the tile used at each texture scale.
OCTAVE_SIGMA = (3.0, 1.5, 1.0)


@dataclass
class Material:
    """Temperature and texture of a surface; lengths in metres, values in counts."""

    base: float
    amp: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    texel: Tuple[float, float, float] = (0.5, 0.05, 0.01)
    pattern: int = PATTERN_NONE
    pattern_size: Tuple[float, float] = (1.0, 1.0)   # period along local u, v
    pattern_fill: Tuple[float, float] = (0.1, 0.1)   # mortar/line width or pane fraction
    pattern_delta: float = 0.0                       # counts added on the pattern
    pattern_spread: float = 0.0                      # per-cell random extra (lit windows)
    solar: float = 1.0                               # absorptivity-like factor
    hot: List[Tuple[float, float, float, float, float]] = field(default_factory=list)
    photo: int = -1                                  # index into textures.NAMES, -1 none
    photo_amp: float = 0.0                           # counts per unit of the photo's std
    photo_texel: float = 0.01                        # metres per photo texel (256-px level)


@dataclass
class Condition:
    """Scene-wide thermal state drawn from a condition name."""

    name: str
    ambient: float
    contrast: float
    sky: Tuple[float, float]
    sky_amp: float
    noise: float
    fpn: float
    blur: float
    solar: float
    cooling: float
    sun: np.ndarray
    crossover: bool


def draw_condition(rng: np.random.Generator, name: str) -> Condition:
    """Draw the thermal state of one scene (crossover within day and night)."""
    check_condition(name)
    p = CONDITION_PARAMS[name]
    crossover = name != 'rain' and rng.random() < CROSSOVER_PROBABILITY
    contrast = float(p['contrast']) * float(rng.uniform(0.7, 1.3))
    solar = float(p['solar']) * float(rng.uniform(0.5, 1.2))
    if crossover:
        contrast *= 0.12
        solar *= 0.1
    elevation = np.radians(rng.uniform(15, 70))
    azimuth = rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.sin(azimuth), -np.sin(elevation),
                    np.cos(elevation) * np.cos(azimuth)])
    low = float(rng.uniform(p['sky'][0], (p['sky'][0] + p['sky'][1]) / 2))
    return Condition(name=name, ambient=float(p['ambient']) + float(rng.uniform(-150, 150)),
                     contrast=contrast, sky=(low, float(rng.uniform(low, p['sky'][1]))),
                     sky_amp=float(p['contrast']) * float(rng.uniform(10, 120)),
                     noise=float(p['noise']), fpn=float(p['fpn']),
                     blur=float(rng.uniform(*p['blur'])), solar=solar,
                     cooling=float(p['cooling']) * float(rng.uniform(0.5, 1.5)),
                     sun=sun, crossover=crossover)


def _smooth_band(distance: np.ndarray, half_width: np.ndarray, footprint: np.ndarray
                 ) -> np.ndarray:
    """1 inside a band of `half_width` around a line, 0 outside, ramped over one pixel."""
    return np.clip((half_width - distance) / np.maximum(footprint, 1e-6) + 0.5, 0.0, 1.0)


def _cell_hash(i: np.ndarray, j: np.ndarray, salt: float) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer cell."""
    x = np.sin(i * 12.9898 + j * 78.233 + salt * 37.719) * 43758.5453
    return x - np.floor(x)


def _pattern(kind: np.ndarray, s: np.ndarray, t: np.ndarray, size: np.ndarray,
             fill: np.ndarray, footprint: np.ndarray, salt: np.ndarray
             ) -> Tuple[np.ndarray, np.ndarray]:
    """Coverage in [0, 1] of the pattern and a per-cell random value, per pixel."""
    cover = np.zeros(s.shape, np.float32)
    cell = np.zeros(s.shape, np.float32)
    pu, pv = size[:, 0], size[:, 1]
    fu, fv = fill[:, 0], fill[:, 1]
    row = np.floor(t / pv)
    for k in (PATTERN_BRICK, PATTERN_WINDOWS, PATTERN_LANES, PATTERN_FINS):
        m = kind == k
        if not np.any(m):
            continue
        sm, tm, pum, pvm, fum, fvm, fp = s[m], t[m], pu[m], pv[m], fu[m], fv[m], footprint[m]
        if k == PATTERN_BRICK:
            # Mortar: horizontal joints every course, vertical joints offset by half a brick.
            shift = 0.5 * (np.floor(tm / pvm) % 2)
            du = np.abs(((sm / pum + shift) % 1.0) - 0.5) * pum
            dv = np.abs(((tm / pvm) % 1.0) - 0.5) * pvm
            c = np.maximum(_smooth_band(pum / 2 - du, fum / 2, fp),
                           _smooth_band(pvm / 2 - dv, fvm / 2, fp))
            cell[m] = _cell_hash(np.floor(sm / pum + shift), row[m], salt[m])
        elif k == PATTERN_WINDOWS:
            du = np.abs(((sm / pum) % 1.0) - 0.5) * pum
            dv = np.abs(((tm / pvm) % 1.0) - 0.5) * pvm
            c = _smooth_band(du, fum * pum / 2, fp) * _smooth_band(dv, fvm * pvm / 2, fp)
            cell[m] = _cell_hash(np.floor(sm / pum), np.floor(tm / pvm), salt[m])
        elif k == PATTERN_LANES:
            # Painted lines along t (forward) at lateral period pu, dashed with period pv.
            du = np.abs(((sm / pum) % 1.0) - 0.5) * pum
            dash = ((tm / pvm) % 1.0) < fvm
            c = _smooth_band(du, fum / 2, fp) * dash
        else:
            du = np.abs(((sm / pum) % 1.0) - 0.5) * pum
            c = _smooth_band(du, fum * pum / 2, fp)
        cover[m] = c
    return cover, cell


@dataclass
class MaterialTable:
    """Materials as arrays, gathered per pixel by primitive index."""

    base: np.ndarray
    amp: np.ndarray
    texel: np.ndarray
    pattern: np.ndarray
    pattern_size: np.ndarray
    pattern_fill: np.ndarray
    pattern_delta: np.ndarray
    pattern_spread: np.ndarray
    solar: np.ndarray
    hot: np.ndarray          # (M, H, 5): local x, y, z, amplitude, sigma
    salt: np.ndarray
    photo: np.ndarray
    photo_amp: np.ndarray
    photo_texel: np.ndarray


def material_table(materials: List[Material]) -> MaterialTable:
    """Stack materials into arrays (hot spots padded to the largest count)."""
    n_hot = max([len(m.hot) for m in materials] + [1])
    hot = np.zeros((len(materials), n_hot, 5), np.float32)
    hot[..., 4] = 1.0
    for i, m in enumerate(materials):
        for j, h in enumerate(m.hot):
            hot[i, j] = h
    return MaterialTable(
        base=np.array([m.base for m in materials], np.float32),
        amp=np.array([m.amp for m in materials], np.float32),
        texel=np.array([m.texel for m in materials], np.float32),
        pattern=np.array([m.pattern for m in materials], np.int32),
        pattern_size=np.array([m.pattern_size for m in materials], np.float32),
        pattern_fill=np.array([m.pattern_fill for m in materials], np.float32),
        pattern_delta=np.array([m.pattern_delta for m in materials], np.float32),
        pattern_spread=np.array([m.pattern_spread for m in materials], np.float32),
        solar=np.array([m.solar for m in materials], np.float32),
        hot=hot, salt=np.arange(len(materials), dtype=np.float32),
        photo=np.array([m.photo for m in materials], np.int32),
        photo_amp=np.array([m.photo_amp for m in materials], np.float32),
        photo_texel=np.array([m.photo_texel for m in materials], np.float32))


def sky_radiance(condition: Condition, tiles: Tuple[np.ndarray, ...], direction: np.ndarray
                 ) -> np.ndarray:
    """Sky counts from world ray directions (..., 3): warmer at the horizon, with clouds."""
    dx, dy, dz = direction[..., 0], direction[..., 1], direction[..., 2]
    elev = np.arctan2(-dy, np.hypot(dx, dz))
    azim = np.arctan2(dx, dz)
    clouds = bilinear_wrap(tiles[0], azim * 40.0, elev * 80.0)
    low, high = condition.sky
    return high - (high - low) * np.clip(elev / 0.6, 0, 1) + condition.sky_amp * clouds


def surface_radiance(table: MaterialTable, material: np.ndarray, local: np.ndarray,
                     normal_local: np.ndarray, normal_world: np.ndarray,
                     footprint: np.ndarray, condition: Condition,
                     tiles: Tuple[np.ndarray, ...], planar: np.ndarray) -> np.ndarray:
    """Compute counts at surface points (flat arrays): temperature, texture, pattern, spots.

    `local` are the points in their primitive's frame (N, 3), `normal_*` unit normals facing
    the camera, `footprint` the metres of surface one pixel covers, `planar` marks polygons
    and planes, whose texture is the local (x, y) plane; curved surfaces use triplanar
    blending so that the texture has no seam.
    """
    val = table.base[material].copy()
    # Solar load on surfaces facing the sun; cooling of surfaces that face the open sky.
    facing_sun = np.clip(normal_world @ condition.sun, 0, 1)
    val += condition.solar * table.solar[material] * facing_sun
    val -= condition.cooling * np.clip(-normal_world[:, 1], 0, 1)
    weights = np.where(planar[:, None], np.array([0.0, 0.0, 1.0], np.float32),
                       normal_local.astype(np.float32) ** 2)
    for octave, tile in enumerate(tiles[1:4]):
        texel = table.texel[material, octave]
        amp = table.amp[material, octave] * condition.contrast
        # Features the pixel grid cannot resolve would alias differently in the two views.
        feat_px = texel * OCTAVE_SIGMA[octave] / footprint
        fade = np.clip(feat_px - 1.0, 0.0, 1.0)
        active = (amp * fade) > 0
        if not np.any(active):
            continue
        q = local[active] / texel[active, None]
        w = weights[active]
        noise = (w[:, 0] * bilinear_wrap(tile, q[:, 1], q[:, 2])
                 + w[:, 1] * bilinear_wrap(tile, q[:, 2] + 17.0, q[:, 0])
                 + w[:, 2] * bilinear_wrap(tile, q[:, 0] + 31.0, q[:, 1]))
        val[active] += (amp * fade)[active] * noise
    photo = table.photo[material]
    for k, name in enumerate(textures.NAMES):
        m = photo == k
        if not np.any(m):
            continue
        # Planar surfaces map the photo on their plane; curved ones on the local plane most
        # facing their normal (a property of the surface point, so both views agree).
        axis = np.where(planar[m], 2, np.argmax(np.abs(normal_local[m]), axis=1))
        lm = local[m]
        s_coord = np.where(axis == 0, lm[:, 1], lm[:, 0])
        t_coord = np.where(axis == 2, lm[:, 1], lm[:, 2])
        texel = table.photo_texel[material[m]]
        val[m] += (table.photo_amp[material[m]] * condition.contrast
                   * textures.sample(name, s_coord / texel, t_coord / texel,
                                     footprint[m] / texel))
    kind = table.pattern[material]
    has = kind != PATTERN_NONE
    if np.any(has):
        cover, cell = _pattern(kind[has], local[has, 0], local[has, 1],
                               table.pattern_size[material[has]],
                               table.pattern_fill[material[has]], footprint[has],
                               table.salt[material[has]])
        delta = (table.pattern_delta[material[has]]
                 + table.pattern_spread[material[has]] * (cell - 0.5) * 2.0)
        val[has] += cover * delta * condition.contrast
    hot = table.hot[material]                                 # (N, H, 5)
    if np.any(hot[..., 3] != 0):
        r2 = ((local[:, None, :] - hot[..., :3]) ** 2).sum(-1)
        val += (hot[..., 3] * np.exp(-r2 / (2 * hot[..., 4] ** 2))).sum(-1)
    return val.astype(np.float32)


def make_tiles(rng: np.random.Generator) -> Tuple[np.ndarray, ...]:
    """Noise tiles: one for clouds, then coarse, mid and fine surface texture."""
    return (periodic_noise(rng, 3.0),) + tuple(periodic_noise(rng, s) for s in OCTAVE_SIGMA)
