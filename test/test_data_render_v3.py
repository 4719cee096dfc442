# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Renderer v3: leaf clouds and branch tubes with exact depth, foliage gaps, the wet-road
mirror rule, photographic textures, the content statistics and the v2/v3 switch."""

import functools
import pathlib

import numpy as np
import pytest

from thermostereo_ros.data import scene_stats
from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render import textures
from thermostereo_ros.data.render.atmosphere import draw_atmosphere
from thermostereo_ros.data.render.clusters import sphere_cloud, tube_set
from thermostereo_ros.data.render.reflection import REFLECTIVE_WEIGHT, shade_view_v3
from thermostereo_ros.data.render.rig import rig_camera
from thermostereo_ros.data.render.builder import Scene
from thermostereo_ros.data.render.thermal import (Condition, Material, draw_condition,
                                                  make_tiles, material_table)
from thermostereo_ros.data.synthetic import TAGS, render_pair

EYE = np.eye(3)


def _rays(fx: float = 200.0, h: int = 64, w: int = 160) -> pr.Rays:
    return pr.Rays(fx, fx, (w - 1) / 2, (h - 1) / 2, h, w)


def test_sphere_cloud_casts_like_separate_spheres():
    rng = np.random.default_rng(3)
    centres = np.c_[rng.uniform(-1, 1, 40), rng.uniform(-0.4, 0.4, 40), rng.uniform(3, 6, 40)]
    radii = rng.uniform(0.05, 0.3, 40)
    rays = _rays()
    cloud = pr.cast([sphere_cloud(np.zeros(3), EYE, centres, radii, 0)], EYE, np.zeros(3),
                    rays)
    single = pr.cast([pr.ellipsoid(c, EYE, np.full(3, r), 0) for c, r in zip(centres, radii)],
                     EYE, np.zeros(3), rays)
    hit = np.isfinite(single.depth)
    assert hit.sum() > 500
    np.testing.assert_array_equal(np.isfinite(cloud.depth), hit)
    np.testing.assert_allclose(cloud.depth[hit], single.depth[hit], rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.abs((cloud.normal[hit] * single.normal[hit]).sum(-1)), 1.0,
                               atol=1e-6)


def test_tube_depth_lies_on_the_cylinder():
    starts = np.array([[-1.0, 0.3, 4.0], [0.5, -0.5, 5.0], [0.0, 0.0, 0.02]])
    ends = np.array([[1.0, -0.2, 6.0], [0.6, 0.5, 5.5], [0.1, 0.0, 8.0]])  # the last crosses
    radii = np.array([0.05, 0.02, 0.03])                                     # the near plane
    rays = _rays()
    zb = pr.cast([tube_set(starts, ends, radii, 0)], EYE, np.zeros(3), rays)
    hit = np.isfinite(zb.depth)
    assert hit.sum() > 100
    points = np.stack([rays.x[hit], rays.y[hit], np.ones(hit.sum())], -1) * \
        zb.depth[hit][:, None]
    best = np.full(len(points), np.inf)
    for a, b, r in zip(starts, ends, radii):
        axis = (b - a) / np.linalg.norm(b - a)
        rel = points - a
        h = rel @ axis
        radial = np.linalg.norm(rel - h[:, None] * axis, axis=1)
        inside = (h >= -1e-9) & (h <= np.linalg.norm(b - a) + 1e-9)
        best = np.minimum(best, np.where(inside, np.abs(radial - r), np.inf))
    assert best.max() < 1e-9


def test_a_ray_through_a_foliage_gap_takes_the_depth_behind():
    rays = _rays(h=65, w=161)        # pixel (32, 80) looks straight ahead
    wall = pr.plane(np.array([0.0, 0.0, 10.0]), np.array([0.0, 0.0, -1.0]), 1)
    # A ring of leaf clusters at 4 m with a hole in the middle.
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.c_[0.5 * np.cos(angles), 0.5 * np.sin(angles), np.full(12, 4.0)]
    crown = sphere_cloud(np.array([0.0, 0.0, 4.0]), EYE, ring, np.full(12, 0.2), 0,
                         'foliage')
    zb = pr.cast([wall, crown], EYE, np.zeros(3), rays)
    assert zb.ids[32, 80] == 0 and zb.depth[32, 80] == pytest.approx(10.0, abs=1e-12)
    # The ray through one cluster's centre hits it 0.2 m before the centre, along the ray.
    u = int(round(80 + 200.0 * 0.5 / 4.0))
    along = np.linalg.norm([0.5, 0.0, 4.0]) - 0.2
    assert zb.ids[32, u] == 1
    assert zb.depth[32, u] == pytest.approx(along / np.linalg.norm([0.125, 0.0, 1.0]),
                                            abs=1e-9)


def _wet_street_scene(wetness: float):
    """A road plane 1.5 m below the camera, and a warm box standing on it 8 m ahead."""
    road = pr.plane(np.array([0.0, 1.5, 0.0]), np.array([0.0, -1.0, 0.0]), 0)
    road.tag = 'road'
    box = pr.box(np.array([0.0, 0.5, 8.0]), EYE, np.array([1.5, 2.0, 1.0]), 1)
    condition = Condition(name='rain', ambient=4000.0, contrast=0.3, sky=(3600.0, 3700.0),
                          sky_amp=0.0, noise=0.0, fpn=0.0, blur=1.0, solar=0.0, cooling=0.0,
                          sun=np.array([0.0, -1.0, 0.0]), crossover=False)
    materials = [Material(base=4000.0), Material(base=6000.0)]
    return Scene('street', [road] + box, materials, condition, 1.5, 0.0, 0.0, road=0,
                 wetness=wetness)


def test_a_wet_road_mirrors_but_its_ground_truth_is_the_road():
    camera = rig_camera(200.0, 200.0, 79.5, 47.5, 0.3, 160, 96)
    rays = pr.Rays(camera.fx, camera.fy, camera.cx, camera.cy, camera.height, camera.width)
    rng = np.random.default_rng(0)
    tiles = make_tiles(rng)
    atmosphere = draw_atmosphere(rng, _wet_street_scene(1.0).condition)
    out = {}
    for wetness in (0.0, 1.0):
        scene = _wet_street_scene(wetness)
        zb = pr.cast(scene.primitives, EYE, np.zeros(3), rays)
        out[wetness] = (zb, *shade_view_v3(scene, material_table(scene.materials), tiles,
                                           camera, rays, EYE, np.zeros(3), zb, atmosphere))
    zb, wet, weight = out[1.0]
    road = zb.ids == 0
    # Ground truth: the road plane's own depth (z = 1.5 / ray_y), whatever it mirrors.
    rows = np.nonzero(road)[0]
    expected = 1.5 / rays.y[rows, 0]
    np.testing.assert_allclose(zb.depth[road], expected, rtol=1e-12)
    np.testing.assert_array_equal(zb.depth, out[0.0][0].depth)
    # The mirror: only the road reflects, and below the box it shows the warm box.
    assert (weight[~road] == 0).all() and (weight[road] > REFLECTIVE_WEIGHT).mean() > 0.9
    dry = out[0.0][1]
    box_base_row = int(np.nonzero(zb.ids[:, 80] > 0)[0].max())
    just_below = slice(box_base_row + 1, box_base_row + 4)
    assert (wet[just_below, 80] - dry[just_below, 80]).min() > 50.0
    far_side = np.nonzero(road[:, 5])[0][-3:]             # steep, near rows mirror the sky
    assert np.abs(wet[far_side, 5] - dry[far_side, 5]).max() < \
        (wet[just_below, 80] - dry[just_below, 80]).min()


def test_rain_streets_mark_mirrors_on_the_road_only():
    seen = 0
    for seed in range(4):
        p = render_pair(700 + seed, 96, 240, 64, 'rain', family='street', version=3)
        if p.reflective.any():
            seen += 1
            assert (p.tags[p.reflective] == TAGS.index('road')).all()
            assert (p.disparity[p.reflective] > 0).all()
    assert seen >= 3


def test_v2_pairs_have_no_v3_content():
    p = render_pair(11, 96, 240, 64, 'rain', family='street', version=2)
    assert not p.reflective.any()
    assert set(np.unique(p.tags)) <= {TAGS.index(''), TAGS.index('sky')}
    with pytest.raises(ValueError, match='renderer version'):
        render_pair(11, 32, 64, 16, version=4)


def test_thin_structure_measure():
    d = np.full((3, 20), 5.0, np.float32)
    d[0, 8:11] = 9.0           # 3 px nearer than both sides by 4 px: thin
    d[1, 2:8] = 9.0            # 6 px wide: not thin
    d[2, 8:10] = 5.5           # nearer by only 0.5 px: not a structure
    mask = scene_stats.thin_structure_mask(d)
    assert mask[0, 8:11].all() and mask.sum() == 3
    d[0, 0:2] = 9.0            # at the image border: no left-hand run to compare with
    assert not scene_stats.thin_structure_mask(d)[0, 0:2].any()


def test_street_content_statistics():
    p = render_pair(500_101, 128, 320, 96, 'day', family='street', version=3)
    content = scene_stats.pair_content(p)
    assert content['occluder_in_front'] == 1.0
    assert content['thin'] > 0 and content['foliage'] > 0
    v2 = scene_stats.pair_content(render_pair(500_101, 128, 320, 96, 'day', family='street',
                                              version=2))
    assert v2['foliage'] == 0 and v2['occluder_in_front'] == 0


def test_photo_textures_are_recorded_and_normalised():
    readme = (pathlib.Path(textures.__file__).parent / 'README.md').read_text()
    for name in textures.NAMES:
        assert f'`{name}.png`' in readme and 'CC0' in readme
        levels = textures.pyramid(name)
        assert levels[0].shape == (256, 256)
        assert abs(float(levels[0].mean())) < 1e-3 and abs(float(levels[0].std()) - 1) < 1e-3
    u = np.linspace(0, 300, 50)
    sample = functools.partial(textures.sample, 'brick', u, u)
    assert np.abs(sample(np.full(50, 0.5))).mean() > 0.2
    # Far beyond the coarsest level's texel the texture fades out instead of aliasing.
    assert np.abs(sample(np.full(50, 1e4))).max() == 0.0


def test_atmosphere_fades_far_surfaces_toward_the_air():
    from thermostereo_ros.data.render.atmosphere import attenuate
    condition = draw_condition(np.random.default_rng(2), 'rain')
    atmosphere = draw_atmosphere(np.random.default_rng(2), condition)
    hot = np.full(3, atmosphere.air + 1000.0, np.float32)
    faded = attenuate(hot, np.array([1.0, 100.0, 1e5]), atmosphere)
    assert faded[0] > faded[1] > faded[2]
    assert abs(faded[2] - atmosphere.air) < 1.0
