# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Renderer v3 scene families: what real thermal streets contain and v2 did not.

- street: v2's layout (road, sidewalks, facades, skyline, cars, people) plus one or two rows
  of branching street trees (leafy crowns with gaps, or bare winter trees), hedges and
  bushes; street lights with arms and the wires between them, sign posts, bollards, fence bars
  and bike racks at the curb (railings too), in front of the foliage and facades; vans, buses
  and trucks out to 72 m in the lanes; wet roads that mirror the scene in rain; 40 % are
  park-like streets with trees in depth.
- indoor: v2's rooms plus thin chair and stool legs, cables and house plants.
- flying: v2's random objects plus thin rods, wire bundles and leaf clouds, and in 15 % a large
  textured surface near the camera (its centre at 0.5-0.95 of the disparity budget).

Surfaces carry photographic texture (`render.textures`) besides procedural noise, and tags
('foliage', 'tree', 'thin', 'vehicle', 'road') that the statistics and label maps read.
"""

from typing import Callable, Dict

import numpy as np

from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render import vegetation
from thermostereo_ros.data.render.builder import (lay_sidewalk, min_depth, scaled, Scene, UP,
                                                  X_AXIS, Z_AXIS)
from thermostereo_ros.data.render.builder_v3 import SceneBuilderV3, tag
from thermostereo_ros.data.render.clusters import tube_set
from thermostereo_ros.data.render.rig import ThermalCamera
from thermostereo_ros.data.render.scenes import (
    build_flying, build_indoor, SKYLINE_STEPS, skyline, street_pose)
from thermostereo_ros.data.render.thermal import Condition

# Streets carry most of what v3 adds (trees, thin street furniture, wet mirrors, far traffic)
# and are MS2's domain, so they gain at indoor's expense; flying keeps the generic signal.
DEFAULT_MIX_V3: Dict[str, float] = {'street': 0.5, 'indoor': 0.15, 'flying': 0.35}
# Share of a street's path over which the wet mirror applies, by condition: rain always;
# nights and days after rain sometimes.
WET_PROBABILITY = {'day': 0.05, 'night': 0.2, 'rain': 1.0}
WETNESS = {'day': (0.1, 0.4), 'night': (0.2, 0.6), 'rain': (0.5, 1.0)}
# Vehicle kinds: (length, width, body height, cabin height) ranges in metres.


def _street_layout(b: SceneBuilderV3, rng: np.random.Generator, camera: ThermalCamera,
                   height: float, far: float, park: bool) -> Dict[str, float]:
    """Road, sidewalks, curbs, facades and skyline; returns the layout's dimensions."""
    road_m = b.asphalt()
    b.photo(road_m, 'gravel', 0.5)
    b.add(tag(pr.plane(np.array([road_m.pattern_size[0] / 2, height, 0.0]), UP,
                       b.material(road_m)), 'road'))
    half_road = rng.uniform(3.0, 8.0)
    curb_h = rng.uniform(0.1, 0.18)
    walk_width = rng.uniform(1.5, 5.0)
    walk_m = b.concrete()
    if rng.random() < 0.3:
        walk_m = b.photo(b.foliage(), 'grass', 1.0)     # a grass verge
    else:
        b.photo(walk_m, None, 0.5)
    walk, curb = b.material(walk_m), b.material(b.concrete())
    for side in (-1, 1):
        x_out = lay_sidewalk(b, side, half_road, walk_width, curb_h, height, far, walk, curb)
        z = rng.uniform(-5.0, 10.0)
        while z < far:
            w = rng.uniform(6.0, 30.0)
            if rng.random() < (0.3 if park else 0.8):
                setback = rng.uniform(8.0, 30.0) if park else rng.uniform(0.0, 3.0)
                h = rng.uniform(4.0, 25.0)
                facade = b.facade()
                if facade.pattern != 0 and rng.random() < 0.5:
                    b.photo(facade, 'brick', 1.0)
                b.add(pr.rectangle(np.array([x_out + side * setback, height - h / 2,
                                             z + w / 2]), Z_AXIS, UP, w, h, b.material(facade)))
            z += w + rng.uniform(0.0, 6.0)
    z_far = rng.uniform(150.0, 400.0) + far
    tops = height - np.repeat(rng.uniform(5.0, 45.0, SKYLINE_STEPS // 2), 2)
    # Far skylines are sometimes a tree line: as warm as the haze, textured like leaves.
    line = b.leaves() if rng.random() < 0.4 else b.generic(textured=1.0)
    line.amp = scaled(line.amp, 0.5)
    b.add(skyline(camera, height, z_far, tops, b.material(line)))
    return dict(half_road=half_road, curb_h=curb_h, walk_width=walk_width)


def _street_furniture(b: SceneBuilderV3, rng: np.random.Generator, height: float, far: float,
                      z_min: float, lay: Dict[str, float], n_scale: float, park: bool
                      ) -> None:
    """Trees, hedges, bushes, lights with wires, posts, bollards, fences and bike racks."""
    half_road, curb_h, walk = lay['half_road'], lay['curb_h'], lay['walk_width']
    ground = height - curb_h
    bare_share = 0.45 if b.c.name != 'rain' else 0.3
    for side in (-1, 1):
        for row in range(2):                             # rows of street trees
            if rng.random() >= (0.95 if row == 0 else 0.4):
                continue
            bare = rng.random() < bare_share
            z = max(z_min, 2.0) + rng.uniform(0.0, 8.0)
            spacing = rng.uniform(3.0, 7.0)
            while z < min(far, 75.0):
                x = side * (half_road + (walk * rng.uniform(0.3, 0.8) if row == 0
                                         else walk + rng.uniform(0.5, 4.0)))
                b.tree_v3(np.array([x, ground, z]), bare or rng.random() < 0.1)
                z += spacing * rng.uniform(0.8, 1.2)
        if rng.random() < 0.85:                          # hedges along the facade line
            z0 = rng.uniform(max(z_min, 2.0), 25.0)
            length = rng.uniform(6.0, 30.0)
            x = side * (half_road + walk - 0.6)
            b.hedge(np.array([x, ground, z0 + length / 2]), Z_AXIS, length)
            if rng.random() < 0.5:                       # a fence in front of it
                b.fence_bars(np.array([x - side * 0.7, ground, z0]), Z_AXIS, length)
        if rng.random() < 0.45:                          # a railing at the curb
            z0 = rng.uniform(max(z_min, 2.0), 15.0)
            b.fence_bars(np.array([side * (half_road + 0.15), ground, z0]), Z_AXIS,
                         rng.uniform(5.0, 30.0))
        anchors = []
        z = rng.uniform(max(z_min, 2.0), 15.0)
        spacing = rng.uniform(8.0, 20.0)
        while z < min(far, 90.0):                        # street lights at the curb
            foot = np.array([side * (half_road + rng.uniform(0.2, 0.5)), ground, z])
            anchors.append(b.street_light(foot, side))
            z += spacing
        if rng.random() < 0.6:
            b.wires(anchors)
    for _ in range(int(rng.integers(4, 12) * n_scale) if park else 0):  # trees in depth
        side = rng.choice([-1, 1])
        b.tree_v3(np.array([side * (half_road + walk + rng.uniform(1.0, 25.0)), ground,
                            rng.uniform(max(z_min, 5.0), 70.0)]), rng.random() < bare_share)
    for _ in range(int(rng.integers(2, 9) * n_scale)):   # bushes
        side = rng.choice([-1, 1])
        b.bush(np.array([side * (half_road + rng.uniform(0.3, walk)), ground,
                         rng.uniform(max(z_min, 2.0), 40.0)]))
    for _ in range(int(rng.integers(4, 12) * n_scale)):  # sign posts and v2 poles
        side = rng.choice([-1, 1])
        foot = np.array([side * (half_road + rng.uniform(0.2, 0.8)), ground,
                         rng.uniform(max(z_min, 2.0), 60.0)])
        if rng.random() < 0.5:
            b.tagged('thin', b.pole, foot)
        else:
            b.sign_post(foot)
    for _ in range(int(rng.integers(0, 3))):             # bollards
        side = rng.choice([-1, 1])
        start = np.array([side * (half_road + 0.3), ground, rng.uniform(max(z_min, 2.0), 30.0)])
        b.posts(start, Z_AXIS, int(rng.integers(3, 9)), rng.uniform(1.2, 2.0),
                rng.uniform(0.7, 1.0), rng.uniform(0.05, 0.1))
    for _ in range(int(rng.integers(0, 2))):             # bike racks
        side = rng.choice([-1, 1])
        b.bike_rack(np.array([side * (half_road + walk * 0.5), ground,
                              rng.uniform(max(z_min, 2.0), 25.0)]), Z_AXIS)


def _traffic(b: SceneBuilderV3, rng: np.random.Generator, height: float, far: float,
             z_min: float, half_road: float, corridor: float, n_scale: float) -> None:
    """Parked vehicles at the curb, moving ones in the lanes out to 72 m."""
    def depth(lo: float) -> float:
        return float(np.exp(rng.uniform(np.log(max(z_min, lo)), np.log(far * 0.9))))

    def kind() -> str:
        return str(rng.choice(['car', 'van', 'bus', 'truck'], p=[0.6, 0.2, 0.1, 0.1]))

    for _ in range(int(rng.integers(1, 7) * n_scale)):   # parked
        side = rng.choice([-1, 1])
        b.vehicle(np.array([side * (half_road - 1.2), height, depth(6.0)]),
                  rng.normal(0, 0.05) + (np.pi if rng.random() < 0.3 else 0.0), False,
                  str(rng.choice(['car', 'van'], p=[0.8, 0.2])))
    for _ in range(int(rng.integers(1, 8) * n_scale)):   # moving, most of them far
        kind_now = kind()
        # Buses and trucks fill the frame when near: keep them (and most cars) out in depth.
        z = depth(25.0) if rng.random() < 0.7 or kind_now in ('bus', 'truck') else depth(8.0)
        lane = rng.uniform(-half_road + 1.5, half_road - 1.5)
        if corridor and abs(lane) < corridor + 1.3:
            lane = np.copysign(corridor + 1.3 + abs(lane), lane)
        b.vehicle(np.array([lane, height, z]), rng.normal(0, 0.05) + (
            np.pi if lane < 0 else 0.0), True, kind_now)


def build_street_v3(rng: np.random.Generator, camera: ThermalCamera, max_disparity: float,
                    condition: Condition, path_length: float) -> Scene:
    """Build a v3 street (or park road; from a drone in 10 %) along the whole path."""
    b = SceneBuilderV3(rng, condition, camera)
    drone = rng.random() < 0.1
    park = rng.random() < 0.4
    # Level or a little upward more often than v2: crowns, poles and wires against the sky
    # are what the thin-structure and sky statistics of real streets are made of.
    height, pitch, roll = street_pose(rng, camera, max_disparity, drone, (-5.0, 4.0))
    z_min = min_depth(camera, max_disparity)
    far = 80.0 + path_length
    lay = _street_layout(b, rng, camera, height, far, park)
    n_scale = 1.0 + path_length / 40.0
    corridor = 1.6 if path_length > 0 else 0.0
    _street_furniture(b, rng, height, far, z_min, lay, n_scale, park)
    _traffic(b, rng, height, far, z_min, lay['half_road'], corridor, n_scale)
    half_road, walk = lay['half_road'], lay['walk_width']
    for _ in range(int(rng.integers(1, 8) * n_scale)):   # pedestrians
        z = float(np.exp(rng.uniform(np.log(max(z_min, 3.0)), np.log(far * 0.6))))
        on_road = rng.random() < 0.25
        x = (rng.uniform(-half_road, half_road) if on_road else
             rng.choice([-1, 1]) * (half_road + rng.uniform(0.3, walk)))
        if corridor and on_road and abs(x) < corridor:
            x = np.copysign(corridor + abs(x), x)
        foot = np.array([x, height - (0.0 if on_road else lay['curb_h']), z])
        b.person(foot, rng.uniform(-np.pi, np.pi), b.materials[0])
    wet = rng.random() < WET_PROBABILITY[condition.name]
    return Scene('street', b.primitives, b.materials, condition, height, pitch, roll,
                 'drone' if drone else ('park' if park else 'road'), road=0,
                 wetness=float(rng.uniform(*WETNESS[condition.name])) if wet else 0.0)


def build_indoor_v3(rng: np.random.Generator, camera: ThermalCamera, max_disparity: float,
                    condition: Condition, path_length: float) -> Scene:
    """v2's room plus chair legs, cables and house plants."""
    scene = build_indoor(rng, camera, max_disparity, condition, path_length)
    b = SceneBuilderV3(rng, scene.condition, camera)
    b.primitives, b.materials = scene.primitives, scene.materials
    floor_y = scene.height
    z_min = min_depth(camera, max_disparity, 0.8)
    for m in b.materials:
        b.photo(m, None, 0.3)
    for _ in range(int(rng.integers(1, 5))):             # chairs and stools: legs and a seat
        f = np.array([rng.uniform(-2.0, 2.0), floor_y, rng.uniform(max(z_min, 0.5), 5.0)])
        seat = rng.uniform(0.4, 0.75)
        w = rng.uniform(0.35, 0.5)
        frame = pr.rotation(rng.uniform(0, np.pi))
        feet = np.array([f + frame[:, 0] * sx * w / 2 + frame[:, 2] * sz * w / 2
                         for sx in (-1, 1) for sz in (-1, 1)])
        metal = b.metal()
        b.add(tube_set(feet, feet + UP * seat, np.full(4, rng.uniform(0.008, 0.02)), metal,
                       'thin'))
        b.add(*pr.box(f + UP * seat, frame, np.array([w, 0.03, w]), metal))
    for _ in range(int(rng.integers(0, 3))):             # house plants
        f = np.array([rng.uniform(-2.0, 2.0), floor_y, rng.uniform(max(z_min, 0.8), 5.0)])
        b.bush(f)
    for _ in range(int(rng.integers(0, 3))):             # cables across the floor or hanging
        a = np.array([rng.uniform(-2.0, 2.0), floor_y - rng.uniform(0.0, 2.0),
                      rng.uniform(max(z_min, 0.5), 5.0)])
        c = a + rng.normal(0, 1.0, 3) * [1.0, 0.3, 1.0]
        b.wires([a, c])
    scene.primitives, scene.materials = b.primitives, b.materials
    return scene


def build_flying_v3(rng: np.random.Generator, camera: ThermalCamera, max_disparity: float,
                    condition: Condition, path_length: float) -> Scene:
    """v2's flying objects plus thin rods, leaf clouds and sometimes a large near surface."""
    scene = build_flying(rng, camera, max_disparity, condition, path_length)
    b = SceneBuilderV3(rng, condition, camera)
    b.primitives, b.materials = scene.primitives, scene.materials
    for m in b.materials:
        b.photo(m, None, 0.5)
    d_max = 0.9 * max_disparity
    half_w = (camera.width / 2) / camera.fx
    half_h = (camera.height / 2) / camera.fy

    def spot(lo: float) -> np.ndarray:
        d = d_max * float(rng.uniform(lo, 1.0)) ** 1.3
        z = camera.fb / d + rng.uniform(0, path_length)
        return np.array([rng.uniform(-1.1, 1.1) * half_w * z,
                         rng.uniform(-1.1, 1.1) * half_h * z, z])

    for _ in range(int(rng.integers(3, 12))):            # thin rods and wire bundles
        c = spot(0.02)
        direction = pr.random_rotation(rng)[:, 0]
        length = c[2] * rng.uniform(0.2, 1.0) * half_w
        count = int(rng.integers(1, 6))
        offsets = rng.normal(0, 0.05 * length, (count, 3))
        starts = c + offsets - direction * length / 2
        radius = c[2] / camera.fx * rng.uniform(0.3, 3.0)
        b.add(tube_set(starts, starts + direction * length, np.full(count, radius),
                       b.material(b.photo(b.generic(textured=0.8), None, 0.5)), 'thin'))
    for _ in range(int(rng.integers(0, 3))):             # leaf clouds
        c = spot(0.05)
        plant = vegetation.bush(rng, c, c[2] * rng.uniform(0.05, 0.2))
        b.plant(plant, b.material(b.bark()), b.material(b.leaves()), c)
    if rng.random() < 0.15:                              # a large surface near the camera
        d = max_disparity * rng.uniform(0.5, 0.95)
        z = camera.fb / d
        normal = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2), -1.0])
        size = z * 2.5 * half_w
        centre = np.array([rng.uniform(-0.5, 0.5) * half_w * z,
                           rng.uniform(-0.5, 0.5) * half_h * z, z + size * 0.2])
        photo = b.material(b.photo(b.generic(textured=0.95), None, 0.7))
        frame = pr._orthonormal(normal, X_AXIS)
        # Its centre lies at 0.5-0.95 of the budget; a tilted corner may come nearer than the
        # search range, and those pixels' GT then exceeds max_disparity (beyond the range).
        b.add(pr.rectangle(centre, frame[:, 0], frame[:, 1], size * rng.uniform(0.4, 1.0),
                           size * rng.uniform(0.3, 0.8), photo))
    scene.primitives, scene.materials = b.primitives, b.materials
    return scene


BUILDERS_V3: Dict[str, Callable[..., Scene]] = {
    'street': build_street_v3, 'indoor': build_indoor_v3, 'flying': build_flying_v3}
