# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Renderer v3's additions to the scene builder: trees, street furniture, vehicles, tags."""

from typing import Any, Callable, List, Optional

import numpy as np

from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render import vegetation
from thermostereo_ros.data.render.builder import SceneBuilder, UP, X_AXIS, Z_AXIS
from thermostereo_ros.data.render.clusters import sphere_cloud, tube_set
from thermostereo_ros.data.render.rig import ThermalCamera
from thermostereo_ros.data.render.textures import NAMES as PHOTO_NAMES
from thermostereo_ros.data.render.thermal import Condition, Material

# Vehicle kinds: (length, width, body height, cabin height) ranges in metres.
VEHICLES = {'car': ((3.8, 4.9), (1.65, 1.95), (0.6, 0.9), (0.45, 0.65)),
            'van': ((4.8, 6.2), (1.9, 2.1), (1.5, 2.0), (0.0, 0.0)),
            'bus': ((10.0, 13.0), (2.45, 2.55), (2.6, 3.1), (0.0, 0.0)),
            'truck': ((6.0, 10.0), (2.3, 2.5), (2.4, 3.4), (0.0, 0.0))}


def tag(p: pr.Primitive, tag: str) -> pr.Primitive:
    """Return the primitive `p` labelled with a surface name of SyntheticPair.TAGS."""
    p.tag = tag
    return p


class SceneBuilderV3(SceneBuilder):
    """v2's builder plus photo textures, plants, thin street furniture and more vehicles."""

    def __init__(self, rng: np.random.Generator, condition: Condition, camera: ThermalCamera):
        super().__init__(rng, condition)
        self.camera = camera

    def tagged(self, tag: str, build: Callable[..., None], *args: Any,
               **kwargs: Any) -> None:
        """Run a v2 compound builder and tag the primitives it added."""
        start = len(self.primitives)
        build(*args, **kwargs)
        for p in self.primitives[start:]:
            p.tag = tag

    def photo(self, m: Material, name: Optional[str] = None, share: float = 0.6
              ) -> Material:
        """Add a photograph's texture to a material (with probability `share`)."""
        rng = self.rng
        if rng.random() >= share:
            return m
        m.photo = PHOTO_NAMES.index(name) if name else int(rng.integers(len(PHOTO_NAMES)))
        m.photo_amp = float(rng.uniform(20, 140))
        m.photo_texel = float(np.exp(rng.uniform(np.log(0.002), np.log(0.02))))
        return m

    def bark(self) -> Material:
        """Return tree bark: a photo texture over a material near ambient."""
        rng = self.rng
        return self.photo(Material(base=self._rel(-30.0, 80.0),
                                   amp=(rng.uniform(20, 80), rng.uniform(20, 80), 10.0),
                                   texel=(0.4, 0.05, 0.01), solar=0.7), 'gravel', 0.5)

    def leaves(self) -> Material:
        """Return leaves: foliage with the grass photo texture."""
        return self.photo(self.foliage(), 'grass', 0.6)

    def plant(self, plant: vegetation.Plant, wood: int, leaves: int, centre: np.ndarray
              ) -> None:
        """Add a plant's wood and leaf clusters as two primitives (three with joints)."""
        starts, ends, radii = plant.wood()
        if len(radii):
            self.add(tube_set(starts, ends, radii, wood, 'tree'))
        if plant.joints:
            self.add(sphere_cloud(centre, np.eye(3), np.array(plant.joints),
                                  np.array(plant.joint_radii), wood, 'tree'))
        if plant.leaves:
            self.add(sphere_cloud(centre, pr.rotation(self.rng.uniform(0, np.pi)),
                                  np.array(plant.leaves), np.array(plant.leaf_radii), leaves,
                                  'foliage'))

    def tree_v3(self, foot: np.ndarray, bare: bool) -> None:
        """Add a branching tree; branches thinner than a fraction of a pixel are not grown."""
        min_radius = vegetation.MIN_BRANCH_PIXELS * max(float(foot[2]), 1.0) / (
            2.0 * self.camera.fx)
        plant = vegetation.tree(self.rng, foot, min_radius, bare)
        self.plant(plant, self.material(self.bark()), self.material(self.leaves()),
                   foot + UP * 5.0)

    def hedge(self, centre: np.ndarray, along: np.ndarray, length: float) -> None:
        """Add a hedge of leaf clusters along `along`."""
        rng = self.rng
        plant = vegetation.hedge(rng, centre, along, length, rng.uniform(0.8, 2.5),
                                 rng.uniform(0.5, 1.2))
        leaves = self.material(self.leaves())
        self.plant(plant, leaves, leaves, centre)

    def bush(self, foot: np.ndarray) -> None:
        """Add a bush at `foot`."""
        plant = vegetation.bush(self.rng, foot, self.rng.uniform(0.3, 1.0))
        self.plant(plant, self.material(self.bark()), self.material(self.leaves()), foot)

    def metal(self) -> int:
        """Register a metal material (street furniture); return its index."""
        return self.material(self.generic(textured=0.4))

    def street_light(self, foot: np.ndarray, side: float) -> np.ndarray:
        """Add a pole with an arm over the road and a lamp; return a wire anchor on it."""
        rng = self.rng
        metal = self.metal()
        h = rng.uniform(5.0, 9.0)
        r = rng.uniform(0.03, 0.1)
        top = foot + UP * h
        tip = top + X_AXIS * -side * rng.uniform(0.8, 2.5) + UP * rng.uniform(0.0, 0.4)
        self.add(tag(pr.cylinder(foot, UP, r, h, metal), 'thin'))
        self.add(tube_set(np.array([top]), np.array([tip]), np.array([r * 0.6]), metal,
                          'thin'))
        lamp = self.material(self.warm((100, 900)) if self.c.name != 'day'
                             else self.generic(textured=0.2))
        self.add(tag(pr.ellipsoid(tip + UP * -0.1, np.eye(3), np.array([0.3, 0.08, 0.15]),
                                  lamp), 'thin'))
        return top + UP * -0.2

    def sign_post(self, foot: np.ndarray) -> None:
        """Add a thin post (2.5-7 cm radius) with a sign plate on top."""
        rng = self.rng
        metal = self.metal()
        h = rng.uniform(2.0, 3.5)
        self.add(tube_set(foot[None, :], (foot + UP * h)[None, :],
                          np.array([rng.uniform(0.025, 0.07)]), metal, 'thin'))
        plate = pr.rectangle(foot + UP * (h - 0.3) + Z_AXIS * -0.04,
                             pr.rotation(rng.uniform(-0.4, 0.4))[:, 0], UP,
                             rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.6),
                             self.material(self.generic(textured=0.3)))
        plate.tag = 'thin'
        self.add(plate)

    def wires(self, anchors: List[np.ndarray]) -> None:
        """Sagging cables between consecutive anchors (0.5-1.5 cm thick)."""
        rng = self.rng
        if len(anchors) < 2:
            return
        m = self.material(self.generic(textured=0.1))
        starts, ends = [], []
        for level in range(int(rng.integers(1, 4))):
            drop = UP * -0.3 * level
            sag = rng.uniform(0.2, 1.0)
            for a, b in zip(anchors[:-1], anchors[1:]):
                t = np.linspace(0.0, 1.0, 9)
                pts = (a + drop)[None, :] + t[:, None] * (b - a)[None, :]
                pts = pts - UP[None, :] * (sag * 4 * t * (1 - t))[:, None]
                starts += list(pts[:-1])
                ends += list(pts[1:])
        radius = rng.uniform(0.005, 0.015)
        self.add(tube_set(np.array(starts), np.array(ends), np.full(len(starts), radius), m,
                          'thin'))

    def posts(self, start: np.ndarray, direction: np.ndarray, count: int, spacing: float,
              height: float, radius: float, tag: str = 'thin') -> None:
        """Add a row of upright posts as one tube set: bollards, fence bars."""
        m = self.metal()
        feet = start[None, :] + np.arange(count)[:, None] * spacing * direction[None, :]
        self.add(tube_set(feet, feet + UP * height, np.full(count, radius), m, tag))

    def fence_bars(self, start: np.ndarray, direction: np.ndarray, length: float) -> None:
        """Add a fence of vertical bars along `direction`."""
        rng = self.rng
        spacing = rng.uniform(0.09, 0.25)
        count = int(min(length / spacing, 400))
        height = rng.uniform(0.9, 1.8)
        self.posts(start, direction, count, spacing, height, rng.uniform(0.008, 0.03))
        m = self.metal()
        rails = [start + UP * height * f for f in (0.1, 0.95)]
        self.add(tube_set(np.array(rails), np.array([r + direction * length for r in rails]),
                          np.full(2, rng.uniform(0.015, 0.03)), m, 'thin'))

    def bike_rack(self, start: np.ndarray, direction: np.ndarray) -> None:
        """Add a bike rack of bent tubes along `direction`."""
        rng = self.rng
        m = self.metal()
        across = np.cross(direction, UP)
        starts, ends = [], []
        for i in range(int(rng.integers(2, 7))):
            base = start + direction * i * 0.8
            pts = [base - across * 0.35, base - across * 0.35 + UP * 0.8,
                   base + across * 0.35 + UP * 0.8, base + across * 0.35]
            starts += pts[:-1]
            ends += pts[1:]
        self.add(tube_set(np.array(starts), np.array(ends), np.full(len(starts), 0.025), m,
                          'thin'))

    def vehicle(self, centre: np.ndarray, yaw: float, running: bool, kind: str) -> None:
        """Add a car (v2's), van, bus or truck: boxes with a warm engine and exhaust."""
        if kind == 'car':
            self.tagged('vehicle', self.car, centre, yaw, running)
            return
        rng = self.rng
        (l0, l1), (w0, w1), (h0, h1), _ = VEHICLES[kind]
        length, width, body_h = rng.uniform(l0, l1), rng.uniform(w0, w1), rng.uniform(h0, h1)
        frame = pr.rotation(yaw)
        body = self.photo(self.generic(textured=0.3), share=0.3)
        heat = 1.0 if running else rng.uniform(0.0, 0.4)
        body.hot = [(0.0, 0.3, length / 2, heat * rng.uniform(500, 1500), 0.6),
                    (width * 0.3, body_h / 2 - 0.1, -length / 2, heat * rng.uniform(300, 1200),
                     0.15)]
        lift = 0.35
        start = len(self.primitives)
        self.add(*pr.box(centre + UP * (lift + body_h / 2), frame,
                         np.array([width, body_h, length]), self.material(body)))
        glass = self.material(self.glass())
        band = body_h * 0.3
        self.add(pr.rectangle(centre + UP * (lift + body_h * 0.75) + frame[:, 2] * (
            length / 2 + 0.01), frame[:, 0], UP, width * 0.9, band, glass))
        tyre = self.material(self.warm((100 * heat, 150 + 400 * heat)))
        for sx in (-1, 1):
            for sz in (-1, 1):
                hub = (centre + UP * 0.45 + frame[:, 0] * sx * (width / 2 - 0.1)
                       + frame[:, 2] * sz * length * 0.35)
                self.add(pr.cylinder(hub - frame[:, 0] * 0.14, frame[:, 0], 0.45, 0.28, tyre))
        for p in self.primitives[start:]:
            p.tag = 'vehicle'
