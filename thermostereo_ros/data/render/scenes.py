# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Scene families: MS2-like streets, indoor and near-range clutter, and flying objects.

Each builder returns a `Scene`: primitives in a world frame (x right, y down, z forward; the
first camera sits at the origin), their materials, the thermal condition and the camera's
height, pitch and roll. Distances are drawn so that the nearest surfaces stay within the
disparity budget of the rig (disparity = fx * B / z), and objects are spread over the whole
depth range, since a network learns to match only where the data has something to match.

- street: road with lanes, curbs and sidewalks, facades with windows, parked and moving cars
  (warm engines, tyres and exhausts, windows that mirror the cold sky), pedestrians and
  cyclists, trees, poles, signs, fences and guard rails, a skyline; sometimes seen from a
  drone over the same layout.
- indoor: a room 0.3-6 m deep with furniture-like boxes, tables, people, radiators and warm
  appliances; sometimes from under a bed, among clutter.
- flying: the FlyingThings3D idea for thermal images: many random boxes, cylinders,
  ellipsoids and slanted polygons at random depths and orientations, with random textures.
"""

from typing import Callable, Dict, Tuple

import numpy as np

from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render.builder import (
    lay_sidewalk, min_depth, scaled, Scene, SceneBuilder, UP, X_AXIS, Z_AXIS)
from thermostereo_ros.data.render.rig import ThermalCamera
from thermostereo_ros.data.render.thermal import (
    Condition, Material, PATTERN_BRICK, PATTERN_FINS, PATTERN_WINDOWS)

FAMILIES = ('street', 'indoor', 'flying')
# Streets dominate (MS2's domain, and what most of our users point cameras at); flying
# objects carry the generic matching signal FlyingThings3D gives RGB networks; indoor covers
# the near range of robots in buildings.
DEFAULT_MIX: Dict[str, float] = {'street': 0.45, 'indoor': 0.2, 'flying': 0.35}
# Baselines per family: indoor rigs are narrow, or near surfaces would exceed any budget.
FAMILY_BASELINE_M: Dict[str, Tuple[float, float]] = {
    'street': (0.12, 0.5), 'indoor': (0.05, 0.15), 'flying': (0.1, 0.5)}
# Camera speed along the path, metres per frame (sequences only).
FAMILY_SPEED: Dict[str, Tuple[float, float]] = {
    'street': (0.3, 1.4), 'indoor': (0.02, 0.12), 'flying': (0.05, 0.3)}


def _ground_height(camera: ThermalCamera, max_disparity: float, pitch: float,
                   wanted: float) -> float:
    """Camera height, raised if needed so the nearest ground stays below 0.7 of the budget."""
    ray_y = (camera.height - 1 - camera.cy) / camera.fy
    per_height = np.cos(pitch) * ray_y + np.sin(pitch)
    return max(wanted, camera.fb * per_height / (0.7 * max_disparity))


SKYLINE_STEPS = 30


def street_pose(rng: np.random.Generator, camera: ThermalCamera, max_disparity: float,
                drone: bool, pitch_deg: Tuple[float, float]) -> Tuple[float, float, float]:
    """Camera height, pitch and roll of a street scene (a drone's, or a car's in `pitch_deg`)."""
    if drone:
        height, pitch = rng.uniform(4.0, 12.0), np.radians(rng.uniform(20, 50))
    else:
        height, pitch = rng.uniform(1.2, 2.0), np.radians(rng.uniform(*pitch_deg))
    height = _ground_height(camera, max_disparity, pitch, height)
    return height, pitch, np.radians(rng.uniform(-1.5, 1.5))


def skyline(camera: ThermalCamera, height: float, z_far: float, tops: np.ndarray,
            material: int) -> pr.Primitive:
    """Make a far silhouette with stepped tops (y of each step), for an irregular sky edge."""
    n = len(tops)
    xs = np.linspace(-1.2, 1.2, n) * z_far * (camera.width / 2) / camera.fx * 1.5
    verts = [[xs[0], height, z_far]]
    for i in range(n - 1):
        verts += [[xs[i], tops[i], z_far], [xs[i + 1], tops[i], z_far]]
    verts += [[xs[-1], height, z_far]]
    return pr.polygon(np.array(verts), material, hint=X_AXIS)


def build_street(rng: np.random.Generator, camera: ThermalCamera, max_disparity: float,
                 condition: Condition, path_length: float) -> Scene:
    """Build an MS2-like street (or a yard seen from a drone) along the whole path."""
    b = SceneBuilder(rng, condition)
    drone = rng.random() < 0.15
    height, pitch, roll = street_pose(rng, camera, max_disparity, drone, (-3.0, 6.0))
    z_min = min_depth(camera, max_disparity)
    far = 80.0 + path_length
    road_m, half_road, curb_h, walk_width, walk = _street_ground(b, rng, height, far)
    # Skyline: a far silhouette with stepped building tops, so the sky edge is irregular.
    z_far = rng.uniform(150.0, 400.0) + path_length
    tops = height - np.repeat(rng.uniform(5.0, 45.0, SKYLINE_STEPS // 2), 2)
    sky_line = b.generic(textured=1.0)
    sky_line.amp = scaled(sky_line.amp, 0.5)
    b.add(skyline(camera, height, z_far, tops, b.material(sky_line)))

    def depth() -> float:
        return float(np.exp(rng.uniform(np.log(max(z_min, 3.0)), np.log(far * 0.7))))

    n_scale = 1.0 + path_length / 40.0
    for _ in range(int(rng.integers(2, 10) * n_scale)):   # parked cars
        side = rng.choice([-1, 1])
        z = depth()
        b.car(np.array([side * (half_road - 1.1), height, z]),
              rng.normal(0, 0.05) + (np.pi if rng.random() < 0.3 else 0.0), running=False)
    # A sequence drives along x = 0: nothing may stand in that corridor, or the camera would
    # pass through it (single pairs, path_length 0, keep the whole road).
    corridor = 1.6 if path_length > 0 else 0.0
    for _ in range(int(rng.integers(0, 6) * n_scale)):    # moving cars
        z = depth()
        lane = rng.uniform(-half_road + 1.5, half_road - 1.5)
        if corridor and abs(lane) < corridor + 1.0:
            lane = np.copysign(corridor + 1.0 + abs(lane), lane)
        b.car(np.array([lane, height, z]), rng.normal(0, 0.08) +
              (np.pi if lane < 0 else 0.0), running=True)
    for _ in range(int(rng.integers(1, 10) * n_scale)):   # pedestrians and cyclists
        foot, on_road, riding = _street_person(rng, depth() * 0.6 + z_min, height, half_road,
                                               walk_width, curb_h, corridor)
        b.person(foot, rng.uniform(-np.pi, np.pi), road_m if on_road else b.materials[walk],
                 riding=riding)
        if riding:
            _bicycle(b, rng, foot)
    for _ in range(int(rng.integers(2, 12) * n_scale)):   # trees along the sidewalks
        side = rng.choice([-1, 1])
        b.tree(np.array([side * (half_road + rng.uniform(0.5, walk_width)), height - curb_h,
                         depth()]))
    for _ in range(int(rng.integers(2, 12) * n_scale)):   # poles, signs and street lights
        side = rng.choice([-1, 1])
        b.pole(np.array([side * (half_road + rng.uniform(0.2, 0.8)), height - curb_h,
                         depth()]))
    for _ in range(int(rng.integers(0, 3))):             # fences and guard rails
        side = rng.choice([-1, 1])
        z0 = max(z_min, rng.uniform(2.0, 30.0))
        guard = rng.random() < 0.5
        x = side * (half_road - 0.2 if guard else half_road + walk_width - 0.2)
        b.fence(np.array([x, height - (0.0 if guard else curb_h), z0]), Z_AXIS,
                rng.uniform(10.0, 60.0), guard)
    return Scene('street', b.primitives, b.materials, condition, height, pitch, roll,
                 'drone' if drone else 'road')


def _street_ground(b: SceneBuilder, rng: np.random.Generator, height: float, far: float
                   ) -> Tuple[Material, float, float, float, int]:
    """Lay the road, sidewalks, curbs and facades.

    Returns (road material, half road width, curb height, sidewalk width, sidewalk material
    index).
    """
    road_m = b.asphalt()
    road = b.material(road_m)
    # Lane lines at lateral multiples of the lane width, offset so the centre line is at 0.
    b.add(pr.plane(np.array([road_m.pattern_size[0] / 2, height, 0.0]), UP, road))
    half_road = rng.uniform(3.0, 8.0)
    curb_h = rng.uniform(0.1, 0.18)
    walk_width = rng.uniform(1.5, 5.0)
    walk = b.material(b.concrete())
    curb = b.material(b.concrete())
    for side in (-1, 1):
        x_out = lay_sidewalk(b, side, half_road, walk_width, curb_h, height, far, walk, curb)
        # Facades: buildings of varied width, height and setback, with gaps.
        z = rng.uniform(-5.0, 10.0)
        while z < far:
            w = rng.uniform(6.0, 30.0)
            if rng.random() < 0.8:
                setback = rng.uniform(0.0, 3.0)
                h = rng.uniform(4.0, 25.0)
                b.add(pr.rectangle(np.array([x_out + side * setback, height - h / 2, z + w / 2]),
                                   Z_AXIS, UP, w, h, b.material(b.facade())))
            z += w + rng.uniform(0.0, 6.0)
    return road_m, half_road, curb_h, walk_width, walk


def _street_person(rng: np.random.Generator, z: float, height: float, half_road: float,
                   walk_width: float, curb_h: float, corridor: float
                   ) -> Tuple[np.ndarray, bool, bool]:
    """Where a pedestrian or cyclist stands: (foot, on the road, riding)."""
    on_road = rng.random() < 0.3
    x = (rng.uniform(-half_road, half_road) if on_road else
         rng.choice([-1, 1]) * (half_road + rng.uniform(0.3, walk_width)))
    if corridor and on_road and abs(x) < corridor:
        x = np.copysign(corridor + abs(x), x)
    foot = np.array([x, height - (0.0 if on_road else curb_h), z])
    return foot, on_road, bool(on_road and rng.random() < 0.4)


def _bicycle(b: SceneBuilder, rng: np.random.Generator, foot: np.ndarray) -> None:
    wheel = b.material(b.generic(textured=0.3))
    heading = pr.rotation(rng.uniform(-0.3, 0.3))[:, 2]
    for s in (-0.55, 0.55):
        hub = foot + UP * 0.34 + heading * s
        b.add(pr.cylinder(hub - X_AXIS * 0.02, X_AXIS, 0.34, 0.04, wheel))


def build_indoor(rng: np.random.Generator, camera: ThermalCamera, max_disparity: float,
                 condition: Condition, path_length: float) -> Scene:
    """Build a room 0.3-6 m deep with furniture, people and heat sources; or under a bed."""
    # Indoors the air is conditioned: a narrow temperature spread whatever the weather.
    condition = Condition(**{**condition.__dict__, 'contrast': condition.contrast * 0.5 + 0.2,
                             'solar': 0.0, 'cooling': 0.0})
    b = SceneBuilder(rng, condition)
    under_bed = rng.random() < 0.25
    z_min = min_depth(camera, max_disparity, 0.8)
    pitch = np.radians(rng.uniform(-5, 15))
    wanted = rng.uniform(0.08, 0.25) if under_bed else rng.uniform(0.3, 1.8)
    height = _ground_height(camera, max_disparity, pitch, wanted)
    roll = np.radians(rng.uniform(-3, 3))
    room_w = rng.uniform(3.0, 8.0)
    room_d = max(z_min + 1.0, rng.uniform(2.5, 6.0)) + path_length
    room_h = max(height + 0.5, rng.uniform(2.4, 3.4))
    x_off = rng.uniform(-0.3, 0.3) * room_w
    left, right = x_off - room_w / 2, x_off + room_w / 2
    back = -0.5
    floor_y, ceil_y = height, height - room_h
    floor = b.material(b.concrete())
    wall = b.material(b.generic(textured=0.5))
    wall2 = b.material(b.generic(textured=0.5))
    b.add(pr.plane(np.array([0.0, floor_y, 0.0]), UP, floor))
    b.add(pr.rectangle(np.array([x_off, (floor_y + ceil_y) / 2, room_d]), X_AXIS, UP, room_w,
                       room_h, wall))
    for x, m in ((left, wall2), (right, wall2)):
        b.add(pr.rectangle(np.array([x, (floor_y + ceil_y) / 2, (room_d + back) / 2]), Z_AXIS,
                           UP, room_d - back, room_h, m))
    b.add(pr.rectangle(np.array([x_off, ceil_y, (room_d + back) / 2]), X_AXIS, Z_AXIS, room_w,
                       room_d - back, b.material(b.generic(textured=0.3))))

    def spot(margin: float = 0.3) -> np.ndarray:
        z = rng.uniform(max(z_min, 0.3), room_d - margin)
        x = rng.uniform(left + margin, right - margin)
        return np.array([x, floor_y, z])

    if under_bed:
        # The bed's underside, a slat pattern seen from below, 0.25-0.45 m above the floor.
        bed_y = floor_y - max(height + 0.1, rng.uniform(0.25, 0.45))
        slats = b.generic(textured=0.6)
        slats.pattern, slats.pattern_size = PATTERN_FINS, (rng.uniform(0.08, 0.2), 1.0)
        slats.pattern_fill, slats.pattern_delta = (0.5, 0.5), rng.uniform(-120, 120)
        b.add(pr.rectangle(np.array([0.0, bed_y, rng.uniform(1.2, 2.2)]), X_AXIS, Z_AXIS,
                           rng.uniform(1.4, 2.0), rng.uniform(2.0, 3.5), b.material(slats)))
    for _ in range(int(rng.integers(3, 9))):            # furniture-like boxes
        f = spot()
        size = rng.uniform(0.3, 1.8, 3) * np.array([1.0, 0.8, 1.0])
        m = b.material(b.generic())
        b.add(*pr.box(f + UP * size[1] / 2, pr.rotation(rng.uniform(0, np.pi)), size, m))
    for _ in range(int(rng.integers(0, 3))):            # tables
        _table(b, rng, spot())
    for _ in range(int(rng.integers(0, 3))):            # people
        b.person(spot(), rng.uniform(-np.pi, np.pi), b.materials[wall])
    for _ in range(int(rng.integers(0, 3))):            # radiators on the walls
        side = rng.choice([-1, 1])
        z = rng.uniform(max(z_min, 0.5), room_d - 0.5)
        _radiator(b, rng, (left if side < 0 else right) - side * 0.06, floor_y, z)
    for _ in range(int(rng.integers(0, 4))):            # warm appliances and clutter
        _clutter(b, rng, spot())
    return Scene('indoor', b.primitives, b.materials, condition, height, pitch, roll,
                 'under_bed' if under_bed else 'room')


def _table(b: SceneBuilder, rng: np.random.Generator, f: np.ndarray) -> None:
    top = rng.uniform(0.45, 0.8)
    w, d = rng.uniform(0.6, 1.6), rng.uniform(0.5, 1.0)
    m = b.material(b.generic())
    frame = pr.rotation(rng.uniform(0, np.pi))
    b.add(*pr.box(f + UP * top, frame, np.array([w, 0.04, d]), m))
    for sx in (-1, 1):
        for sz in (-1, 1):
            b.add(pr.cylinder(f + frame[:, 0] * sx * (w / 2 - 0.05)
                              + frame[:, 2] * sz * (d / 2 - 0.05), UP, 0.025, top, m))


def _radiator(b: SceneBuilder, rng: np.random.Generator, x: float, floor_y: float,
              z: float) -> None:
    rad = b.warm((400, 1500))
    rad.pattern, rad.pattern_size = PATTERN_FINS, (rng.uniform(0.04, 0.1), 1.0)
    rad.pattern_fill, rad.pattern_delta = (0.5, 0.5), -rng.uniform(100, 300)
    b.add(pr.rectangle(np.array([x, floor_y - 0.45, z]), Z_AXIS, UP,
                       rng.uniform(0.6, 1.6), rng.uniform(0.4, 0.7), b.material(rad)))


def _clutter(b: SceneBuilder, rng: np.random.Generator, f: np.ndarray) -> None:
    kind = rng.random()
    m = b.material(b.warm((100, 900)) if rng.random() < 0.5 else b.generic())
    if kind < 0.4:
        size = rng.uniform(0.1, 0.6, 3)
        b.add(*pr.box(f + UP * size[1] / 2, pr.rotation(rng.uniform(0, np.pi)), size, m))
    elif kind < 0.7:
        r, h = rng.uniform(0.03, 0.2), rng.uniform(0.05, 0.5)
        b.add(pr.cylinder(f, UP, r, h, m))
    else:
        r = rng.uniform(0.05, 0.25)
        b.add(pr.ellipsoid(f + UP * r, np.eye(3), np.full(3, r), m))


def build_flying(rng: np.random.Generator, camera: ThermalCamera, max_disparity: float,
                 condition: Condition, path_length: float) -> Scene:
    """Many random primitives at random depths in front of a random background."""
    b = SceneBuilder(rng, condition)
    d_max = 0.9 * max_disparity
    z_min = camera.fb / d_max + path_length
    pitch, roll = np.radians(rng.uniform(-10, 10)), np.radians(rng.uniform(-5, 5))
    half_w = (camera.width / 2) / camera.fx
    half_h = (camera.height / 2) / camera.fy
    # Background: a far slanted plane, with open sky above it in a third of the scenes.
    d_back = rng.uniform(0.5, min(8.0, d_max * 0.2))
    z_back = camera.fb / d_back + path_length
    normal = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.3, 0.3), -1.0])
    background = b.generic(textured=0.9)
    back_m = b.material(background)
    if rng.random() < 0.33:
        size = z_back * 4 * half_w
        b.add(pr.rectangle(np.array([0.0, size / 2 - rng.uniform(0, 0.5) * z_back * half_h,
                                     z_back]), X_AXIS, UP, size * 2, size, back_m))
    else:
        b.add(pr.plane(np.array([0.0, 0.0, z_back]), normal, back_m))
    if rng.random() < 0.4:
        b.add(pr.plane(np.array([0.0, rng.uniform(1.0, 3.0), 0.0]), UP,
                       b.material(b.generic(textured=0.9))))
    n_objects = int(rng.integers(12, 40))
    for _ in range(n_objects):
        # Disparity drawn with a tilt toward small values: FlyingThings-like coverage.
        d = d_max * float(rng.uniform(0.02, 1.0)) ** 1.3
        z = camera.fb / d + rng.uniform(0, path_length)
        if z < z_min:
            z = z_min + rng.uniform(0, 1.0)
        centre = np.array([rng.uniform(-1.2, 1.2) * half_w * z,
                           rng.uniform(-1.2, 1.2) * half_h * z, z])
        size = z * rng.uniform(0.04, 0.35) * half_w * 2
        # Keep the nearest point within the budget.
        size = min(size, 2 * max(z - z_min, 0.05))
        frame = pr.random_rotation(rng)
        m = b.generic(textured=0.85)
        if rng.random() < 0.3:
            m.pattern = int(rng.choice([PATTERN_BRICK, PATTERN_WINDOWS, PATTERN_FINS]))
            m.pattern_size = tuple(rng.uniform(0.05, 0.4, 2) * size)
            m.pattern_fill = tuple(rng.uniform(0.1, 0.6, 2))
            m.pattern_delta = rng.uniform(-300, 300)
        m = b.maybe_camouflaged(m, background, 0.1)
        mi = b.material(m)
        kind = rng.random()
        if kind < 0.3:
            b.add(*pr.box(centre, frame, rng.uniform(0.3, 1.0, 3) * size, mi))
        elif kind < 0.55:
            b.add(pr.ellipsoid(centre, frame, rng.uniform(0.2, 0.5, 3) * size, mi))
        elif kind < 0.8:
            length = rng.uniform(0.4, 1.5) * size
            b.add(pr.cylinder(centre - frame[:, 2] * length / 2, frame[:, 2],
                              rng.uniform(0.03, 0.3) * size, length, mi))
        else:
            n = int(rng.integers(3, 8))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radius = rng.uniform(0.2, 0.6, n) * size
            verts = (centre[None, :] + np.cos(angles)[:, None] * radius[:, None] * frame[:, 0]
                     + np.sin(angles)[:, None] * radius[:, None] * frame[:, 1])
            try:
                b.add(pr.polygon(verts, mi))
            except ValueError:
                continue
    return Scene('flying', b.primitives, b.materials, condition, 0.0, pitch, roll, 'objects')


BUILDERS: Dict[str, Callable[..., Scene]] = {
    'street': build_street, 'indoor': build_indoor, 'flying': build_flying}


def draw_family(rng: np.random.Generator, mix: Dict[str, float]) -> str:
    """Draw a family name from a mix of weights."""
    names = [f for f in FAMILIES if mix.get(f, 0) > 0]
    if not names:
        raise ValueError(f'family mix {mix} has no positive weight')
    for f in mix:
        if f not in FAMILIES:
            raise ValueError(f'unknown scene family {f!r}; choose from {FAMILIES}')
    w = np.array([mix[f] for f in names], float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]
