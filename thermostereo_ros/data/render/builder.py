# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A scene under construction: primitives and their materials, and the shapes scenes share.

Scene families (scenes.py, scenes_v3.py) draw their layouts and add surfaces through a
SceneBuilder, which keeps every primitive's material index and the road's.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render.rig import ThermalCamera
from thermostereo_ros.data.render.thermal import (
    Condition, Material, PATTERN_BRICK, PATTERN_LANES, PATTERN_NONE, PATTERN_WINDOWS)

UP = np.array([0.0, -1.0, 0.0])
X_AXIS = np.array([1.0, 0.0, 0.0])
Z_AXIS = np.array([0.0, 0.0, 1.0])


def scaled(amp: Tuple[float, float, float], factor: float) -> Tuple[float, float, float]:
    """Return a material's texture amplitudes times `factor` (a quieter copy)."""
    return (amp[0] * factor, amp[1] * factor, amp[2] * factor)


@dataclass
class Scene:
    """A world to render: primitives with materials and the camera's start pose."""

    family: str
    primitives: List[pr.Primitive]
    materials: List[Material]
    condition: Condition
    height: float
    pitch: float
    roll: float
    variant: str = ''
    road: int = -1            # index of the road plane, -1 none (v3: the wet mirror)
    wetness: float = 0.0      # 0 dry .. 1 flooded (v3)


class SceneBuilder:
    """Collects primitives and materials; draws materials for the scene's condition."""

    def __init__(self, rng: np.random.Generator, condition: Condition):
        self.rng, self.c = rng, condition
        self.primitives: List[pr.Primitive] = []
        self.materials: List[Material] = []

    def material(self, m: Material) -> int:
        """Register a material; return its index for primitives."""
        self.materials.append(m)
        return len(self.materials) - 1

    def add(self, *items: pr.Primitive) -> None:
        """Add primitives to the scene."""
        self.primitives.extend(items)

    # Materials: temperatures relative to ambient scale with the condition's contrast;
    # people and running engines do not (they are warm at night too).
    def _rel(self, mean: float, spread: float) -> float:
        return self.c.ambient + self.c.contrast * float(self.rng.normal(mean, spread))

    def generic(self, textured: float = 0.7, base: Optional[float] = None) -> Material:
        """Return a material near ambient, textured with probability `textured`."""
        rng = self.rng
        weak = 1.0 if rng.random() < textured else 0.1
        return Material(
            base=self._rel(0.0, 300.0) if base is None else base,
            amp=(weak * rng.uniform(40, 250), weak * rng.uniform(15, 120),
                 weak * rng.uniform(0, 60)),
            texel=(rng.uniform(0.2, 2.0), rng.uniform(0.02, 0.2), rng.uniform(0.004, 0.03)),
            solar=rng.uniform(0.3, 1.2))

    def asphalt(self) -> Material:
        """Return road asphalt: warm by day, fine texture, lane paint."""
        rng = self.rng
        return Material(base=self._rel(100.0, 120.0),
                        amp=(rng.uniform(30, 120), rng.uniform(20, 70), rng.uniform(20, 80)),
                        texel=(rng.uniform(0.8, 3.0), rng.uniform(0.05, 0.2),
                               rng.uniform(0.006, 0.02)),
                        pattern=PATTERN_LANES,
                        pattern_size=(rng.uniform(2.8, 3.8), rng.uniform(6.0, 12.0)),
                        pattern_fill=(rng.uniform(0.1, 0.2), rng.uniform(0.3, 1.0)),
                        pattern_delta=-rng.uniform(60, 220), solar=1.3)

    def concrete(self) -> Material:
        """Return concrete: near ambient, coarse texture."""
        rng = self.rng
        return Material(base=self._rel(0.0, 100.0),
                        amp=(rng.uniform(20, 80), rng.uniform(15, 60), rng.uniform(10, 40)),
                        texel=(rng.uniform(0.5, 2.0), rng.uniform(0.03, 0.15),
                               rng.uniform(0.005, 0.02)),
                        pattern=PATTERN_BRICK if rng.random() < 0.5 else PATTERN_NONE,
                        pattern_size=(rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.5)),
                        pattern_fill=(0.02, 0.02), pattern_delta=rng.uniform(-60, 60),
                        solar=1.0)

    def facade(self) -> Material:
        """Return a building facade: brick or fins, windows warm at night."""
        rng = self.rng
        night = self.c.name == 'night'
        sky_reflection = (self.c.sky[0] - self.c.ambient) * rng.uniform(0.3, 0.7)
        brick = rng.random() < 0.4
        return Material(
            base=self._rel(0.0, 200.0),
            amp=(rng.uniform(30, 150), rng.uniform(10, 60), rng.uniform(5, 40)),
            texel=(rng.uniform(0.8, 4.0), rng.uniform(0.05, 0.3),
                   rng.uniform(0.01, 0.04)),
            pattern=PATTERN_BRICK if brick else PATTERN_WINDOWS,
            pattern_size=((rng.uniform(0.2, 0.3), rng.uniform(0.06, 0.09)) if brick else
                          (rng.uniform(1.5, 4.0), rng.uniform(2.8, 3.6))),
            pattern_fill=((0.012, 0.012) if brick else
                          (rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.6))),
            # Panes mirror the cold sky; at night some leak heat (lit, heated rooms).
            pattern_delta=(rng.uniform(-80, 80) if brick else
                           (abs(sky_reflection) * 0.3 if night else sky_reflection)),
            pattern_spread=0.0 if brick else (rng.uniform(80, 300) if night else 40.0),
            solar=rng.uniform(0.6, 1.2))

    def glass(self) -> Material:
        """Return glass: it reflects the sky, so cooler than ambient."""
        low = self.c.sky[0]
        return Material(base=low + (self.c.ambient - low) * self.rng.uniform(0.2, 0.6),
                        amp=(self.rng.uniform(10, 40), 5.0, 0.0), texel=(0.8, 0.1, 0.01),
                        solar=0.1)

    def foliage(self) -> Material:
        """Return foliage: near or below ambient, strongly textured."""
        rng = self.rng
        return Material(base=self._rel(-120.0, 80.0),
                        amp=(rng.uniform(40, 120), rng.uniform(60, 160), rng.uniform(30, 100)),
                        texel=(rng.uniform(0.3, 1.0), rng.uniform(0.04, 0.12),
                               rng.uniform(0.01, 0.03)),
                        solar=0.4)

    def skin(self) -> Material:
        """Return human skin: about 30-34 deg C whatever the air."""
        rng = self.rng
        return Material(base=float(rng.uniform(5000, 5600)), amp=(rng.uniform(10, 40), 5, 0),
                        texel=(0.1, 0.02, 0.005), solar=0.1)

    def cloth(self, body: float) -> Material:
        """Return clothing: between the body and the air."""
        rng = self.rng
        base = self.c.ambient + (body - self.c.ambient) * rng.uniform(0.3, 0.85)
        return Material(base=base, amp=(rng.uniform(20, 100), rng.uniform(10, 50), 5.0),
                        texel=(rng.uniform(0.1, 0.4), rng.uniform(0.02, 0.06), 0.005),
                        solar=0.8)

    def warm(self, delta: Tuple[float, float]) -> Material:
        """Make a heat source (radiator, appliance, engine block): ambient-independent excess."""
        rng = self.rng
        return Material(base=self.c.ambient + rng.uniform(*delta),
                        amp=(rng.uniform(20, 80), rng.uniform(10, 40), 0.0),
                        texel=(0.3, 0.03, 0.01), solar=0.3)

    def background_like(self, other: Material) -> Material:
        """Copy the background's temperature: the edges vanish, as in real thermal scenes."""
        return Material(base=other.base + float(self.rng.normal(0, 8)),
                        amp=scaled(other.amp, 0.3), texel=other.texel, solar=0.0)

    def maybe_camouflaged(self, m: Material, background: Material, p: float = 0.1
                          ) -> Material:
        """Return `m`, or with probability `p` a copy of the background."""
        return self.background_like(background) if self.rng.random() < p else m

    # Compound objects.
    def person(self, foot: np.ndarray, yaw: float, background: Material,
               riding: bool = False) -> None:
        """Add a standing (or riding) person at `foot`, facing `yaw`."""
        rng = self.rng
        tall = rng.uniform(1.5, 1.95) * (0.75 if riding else 1.0)
        skin = self.skin()
        head_m = self.material(skin)
        clothes = self.material(self.maybe_camouflaged(self.cloth(skin.base), background, 0.05))
        legs = self.material(self.cloth(skin.base))
        frame = pr.rotation(yaw)
        hip = foot + UP * tall * 0.5
        self.add(pr.ellipsoid(foot + UP * tall * 0.7, frame,
                              np.array([0.2, tall * 0.17, 0.12]), clothes))
        self.add(pr.ellipsoid(foot + UP * tall * 0.93, frame, np.array([0.1, 0.12, 0.11]),
                              head_m))
        side = frame[:, 0]
        if not riding:
            for s in (-1, 1):
                step = rng.uniform(-0.2, 0.2) * frame[:, 2]
                self.add(pr.cylinder(foot + s * side * 0.1 + step, hip - foot - step,
                                     0.07, float(np.linalg.norm(hip - foot - step)), legs))
        for s in (-1, 1):
            shoulder = foot + UP * tall * 0.8 + s * side * 0.24
            self.add(pr.cylinder(shoulder, -UP + rng.uniform(-0.3, 0.3) * frame[:, 2], 0.045,
                                 tall * 0.33, clothes))

    def car(self, centre: np.ndarray, yaw: float, running: bool) -> None:
        """Add a car at `centre`; a running one has a warm bonnet and exhaust."""
        rng = self.rng
        frame = pr.rotation(yaw)
        length, width = rng.uniform(3.8, 4.9), rng.uniform(1.65, 1.95)
        body_h, cabin_h = rng.uniform(0.6, 0.9), rng.uniform(0.45, 0.65)
        body = self.generic(textured=0.3)
        body.amp = scaled(body.amp, 0.4)
        heat = 1.0 if running else rng.uniform(0.0, 0.4)
        # Engine at the front (+local z), exhaust low at the rear.
        body.hot = [(0.0, -0.1, length / 2, heat * rng.uniform(400, 1300), 0.45),
                    (width * 0.3, 0.35, -length / 2, heat * rng.uniform(300, 1000), 0.12)]
        lift = 0.25
        body_m = self.material(body)
        self.add(*pr.box(centre + UP * (lift + body_h / 2), frame,
                         np.array([width, body_h, length]), body_m))
        glass_m = self.material(self.glass())
        self.add(*pr.box(centre + UP * (lift + body_h + cabin_h / 2) - frame[:, 2] * 0.2,
                         frame, np.array([width * 0.9, cabin_h, length * 0.5]), glass_m))
        tyre = self.material(self.warm((100 * heat, 150 + 400 * heat)))
        for sx in (-1, 1):
            for sz in (-1, 1):
                hub = (centre + UP * 0.33 + frame[:, 0] * sx * (width / 2 - 0.12)
                       + frame[:, 2] * sz * length * 0.32)
                self.add(pr.cylinder(hub - frame[:, 0] * 0.11, frame[:, 0], 0.33, 0.22,
                                     tyre))

    def tree(self, foot: np.ndarray) -> None:
        """Add a trunk and a crown at `foot`."""
        rng = self.rng
        trunk_h = rng.uniform(1.5, 4.0)
        trunk = self.material(self.generic(textured=0.8))
        self.add(pr.cylinder(foot, UP, rng.uniform(0.08, 0.3), trunk_h + 0.5, trunk))
        leaves = self.material(self.foliage())
        for _ in range(int(rng.integers(1, 4))):
            r = rng.uniform(0.8, 2.5, 3) * np.array([1.0, 0.8, 1.0])
            centre = foot + UP * (trunk_h + r[1] * 0.8) + rng.uniform(-0.8, 0.8, 3) * [1, 0.3, 1]
            self.add(pr.ellipsoid(centre, pr.rotation(rng.uniform(0, np.pi)), r, leaves))

    def pole(self, foot: np.ndarray) -> None:
        """Add a lamp post or a sign post at `foot`."""
        rng = self.rng
        metal = self.material(self.generic(textured=0.4))
        h = rng.uniform(2.5, 9.0)
        self.add(pr.cylinder(foot, UP, rng.uniform(0.04, 0.14), h, metal))
        kind = rng.random()
        if kind < 0.35:  # sign
            sign = self.material(self.generic(textured=0.3))
            self.add(pr.rectangle(foot + UP * (h - 0.4) + Z_AXIS * -0.05,
                                  pr.rotation(rng.uniform(-0.4, 0.4))[:, 0], UP,
                                  rng.uniform(0.4, 1.0), rng.uniform(0.4, 0.8), sign))
        elif kind < 0.6:  # street light arm with a lamp
            arm_dir = np.array([rng.choice([-1.0, 1.0]), 0.0, 0.0])
            self.add(pr.cylinder(foot + UP * h, arm_dir, 0.05, rng.uniform(1.0, 2.5), metal))

    def fence(self, start: np.ndarray, direction: np.ndarray, length: float,
              guard_rail: bool) -> None:
        """Add a fence or a guard rail along `direction`."""
        rng = self.rng
        m = self.material(self.generic(textured=0.5))
        direction = direction / np.linalg.norm(direction)
        spacing = rng.uniform(1.5, 3.0) if guard_rail else rng.uniform(0.1, 2.0)
        height = rng.uniform(0.6, 0.9) if guard_rail else rng.uniform(0.8, 2.0)
        n_posts = int(min(length / spacing, 60))
        radius = rng.uniform(0.03, 0.08)
        for i in range(n_posts + 1):
            self.add(pr.cylinder(start + direction * i * spacing, UP, radius, height, m))
        for level in ((0.8,) if guard_rail else (0.3, 0.9)):
            centre = start + direction * length / 2 + UP * height * level
            thickness = 0.3 if guard_rail else 0.05
            self.add(pr.rectangle(centre, direction, UP, length, thickness, m))


def min_depth(camera: ThermalCamera, max_disparity: float, share: float = 0.9) -> float:
    """Return the nearest depth a scene may put a surface at: `share` of the budget."""
    return camera.fb / (share * max_disparity)


def lay_sidewalk(b: SceneBuilder, side: int, half_road: float, walk_width: float,
                 curb_h: float, height: float, far: float, walk: int, curb: int) -> float:
    """Add one side's sidewalk and curb along the road (no draws); returns its outer x."""
    x_in, x_out = side * half_road, side * (half_road + walk_width)
    y = height - curb_h
    b.add(pr.polygon(np.array([[x_in, y, -5.0], [x_out, y, -5.0], [x_out, y, far],
                               [x_in, y, far]]), walk, hint=X_AXIS))
    b.add(pr.rectangle(np.array([x_in, height - curb_h / 2, far / 2 - 2.5]), Z_AXIS, UP,
                       far + 5.0, curb_h, curb))
    return x_out
