# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Trees, hedges and bushes as clouds of leaf clusters and sets of branch tubes (renderer v3).

Species are not the aim; the frequency of thin structures and holes is. A tree is a trunk
that forks recursively into limbs and branches (each child shorter and thinner, bent a little,
down to about 1 cm or to a fraction of a pixel at the tree's distance), with leaf clusters at
the branch tips. Leaf clusters are spheres, so a crown is a volume with gaps through which the
sky or whatever stands behind shows, with exact depth wherever a ray hits. Bare trees (winter)
fork deeper and carry no leaves. Hedges and bushes are packed leaf clusters.
"""

from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

UP = np.array([0.0, -1.0, 0.0])
# Below this radius a branch is not grown further (metres).
MIN_BRANCH_RADIUS_M = 0.006
# A branch thinner than this share of a pixel at the tree's distance is not grown: it would
# cover almost no pixel centre, and a tree with thousands of them would cost render time.
MIN_BRANCH_PIXELS = 0.25


@dataclass
class Plant:
    """Geometry of one plant: tubes (wood) and spheres (leaf clusters, wood joints)."""

    starts: List[np.ndarray] = field(default_factory=list)
    ends: List[np.ndarray] = field(default_factory=list)
    radii: List[float] = field(default_factory=list)
    leaves: List[np.ndarray] = field(default_factory=list)
    leaf_radii: List[float] = field(default_factory=list)
    joints: List[np.ndarray] = field(default_factory=list)
    joint_radii: List[float] = field(default_factory=list)

    def wood(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tube starts, ends and radii as arrays."""
        return (np.array(self.starts).reshape(-1, 3), np.array(self.ends).reshape(-1, 3),
                np.array(self.radii))


def _turn(direction: np.ndarray, angle: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """Rotate unit directions (N, 3) away from themselves by `angle`, around them by `azimuth`."""
    d = direction / np.linalg.norm(direction, axis=1, keepdims=True)
    helper = np.where((np.abs(d[:, 0]) < 0.9)[:, None], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    a = np.cross(d, helper)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(d, a)
    side = np.cos(azimuth)[:, None] * a + np.sin(azimuth)[:, None] * b
    return np.cos(angle)[:, None] * d + np.sin(angle)[:, None] * side


def tree(rng: np.random.Generator, foot: np.ndarray, min_radius: float, bare: bool = False
         ) -> Plant:
    """Grow one tree standing at `foot` (world frame, y down), one branching level at a time."""
    plant = Plant()
    trunk_h = rng.uniform(1.6, 4.0) if bare else rng.uniform(1.2, 3.0)
    trunk_r = rng.uniform(0.05, 0.28)
    limb_len = rng.uniform(1.0, 2.4) if bare else rng.uniform(1.3, 2.8)
    spread = rng.uniform(0.35, 0.85)             # fork angle, radians
    shrink = rng.uniform(0.68, 0.85)             # child length / parent length
    thin = rng.uniform(0.55, 0.72)               # child radius / parent radius
    depth_max = int(rng.integers(6, 8)) if bare else int(rng.integers(5, 7))
    leaf_size = rng.uniform(0.12, 0.35)
    min_radius = max(min_radius, MIN_BRANCH_RADIUS_M)
    top = foot + UP * trunk_h + rng.normal(0, 0.1, 3) * [1, 0, 1]
    plant.starts.append(foot.copy())
    plant.ends.append(top)
    plant.radii.append(trunk_r)
    plant.joints.append(top)
    plant.joint_radii.append(trunk_r)
    start = top[None, :]
    direction = (UP + rng.normal(0, 0.1, 3))[None, :]
    length = np.array([limb_len])
    radius = np.array([trunk_r * thin])
    for depth in range(1, depth_max + 1):
        n = len(radius)
        # Two bent pieces per branch; long thin branches droop a little.
        mid_dir = _turn(direction, rng.uniform(0, 0.25, n), rng.uniform(0, 2 * np.pi, n))
        mid = start + mid_dir * (length * 0.5)[:, None]
        end_dir = _turn(mid_dir, rng.uniform(0, 0.25, n), rng.uniform(0, 2 * np.pi, n))
        end_dir = end_dir - 0.15 * UP * (depth / depth_max)
        end_dir /= np.linalg.norm(end_dir, axis=1, keepdims=True)
        end = mid + end_dir * (length * 0.5)[:, None]
        plant.starts += list(start) + list(mid)
        plant.ends += list(mid) + list(end)
        plant.radii += list(radius) + list(radius * 0.9)
        thick = radius > 0.04
        plant.joints += list(mid[thick]) + list(end[thick])
        plant.joint_radii += list(radius[thick]) + list(radius[thick] * 0.9)
        child_r = radius * thin
        last = (child_r < min_radius) | (depth >= depth_max)
        if not bare and depth >= depth_max - 1:
            # Leaf clusters along the outer branches, densest at the tips.
            count = np.where(last, rng.integers(5, 12, n), rng.integers(1, 4, n))
            owner = np.repeat(np.arange(n), count)
            t = rng.uniform(0.3, 1.0, len(owner))[:, None]
            centres = (start[owner] + (end[owner] - start[owner]) * t
                       + rng.normal(0, leaf_size * 1.2, (len(owner), 3)))
            plant.leaves += list(centres)
            plant.leaf_radii += list(leaf_size * rng.uniform(0.6, 1.4, len(owner)))
        grow = ~last
        if not grow.any():
            break
        children = rng.integers(2, 4, int(grow.sum()))
        parent = np.repeat(np.flatnonzero(grow), children)
        k = np.arange(len(parent)) - np.repeat(np.cumsum(children) - children, children)
        total = np.repeat(children, children)
        azimuth = (np.repeat(rng.uniform(0, 2 * np.pi, len(children)), children)
                   + 2 * np.pi * k / total + rng.normal(0, 0.3, len(parent)))
        child = _turn(end_dir[parent], spread * rng.uniform(0.6, 1.3, len(parent)), azimuth)
        # Keep crowns growing outward and up rather than into the ground.
        down = child @ UP < -0.2
        child[down] += 0.6 * UP
        start, direction = end[parent], child
        length = length[parent] * shrink * rng.uniform(0.85, 1.15, len(parent))
        radius = child_r[parent]
    return plant


def hedge(rng: np.random.Generator, centre: np.ndarray, along: np.ndarray, length: float,
          height: float, depth: float, max_clusters: int = 1200) -> Plant:
    """Pack leaf clusters in a box standing on the ground at `centre` (its base centre).

    Most clusters sit in the outer shell, which is all a camera sees; they grow when the box
    is large.
    """
    plant = Plant()
    volume = length * height * depth
    size = max(rng.uniform(0.08, 0.2), 0.6 * (volume / max_clusters) ** (1 / 3))
    across = np.cross(along, UP)
    count = int(min(max_clusters, volume / (1.2 * size) ** 3))
    u = rng.uniform(-0.5, 0.5, count)
    v = rng.uniform(0.0, 1.0, count)
    w = rng.uniform(-0.5, 0.5, count)
    shell = rng.random(count) < 0.7
    w[shell] = np.sign(w[shell]) * rng.uniform(0.35, 0.5, int(shell.sum()))
    for i in range(count):
        plant.leaves.append(centre + along * u[i] * length + UP * v[i] * height
                            + across * w[i] * depth)
        plant.leaf_radii.append(size * rng.uniform(0.7, 1.5))
    return plant


def bush(rng: np.random.Generator, foot: np.ndarray, radius: float) -> Plant:
    """Grow a rounded bush of leaf clusters with a few visible stems."""
    plant = Plant()
    size = rng.uniform(0.06, 0.18)
    count = int(min(300, (radius / size) ** 3 * 1.5))
    for _ in range(count):
        q = rng.normal(0, 1, 3)
        q *= rng.uniform(0, 1) ** (1 / 3) / np.linalg.norm(q)
        plant.leaves.append(foot + UP * radius * 0.9 + q * radius * np.array([1.2, 0.9, 1.2]))
        plant.leaf_radii.append(size * rng.uniform(0.7, 1.4))
    for _ in range(int(rng.integers(2, 6))):
        tip = foot + UP * radius * rng.uniform(0.8, 1.6) + rng.normal(0, radius * 0.5, 3) * [
            1, 0, 1]
        plant.starts.append(foot.copy())
        plant.ends.append(tip)
        plant.radii.append(rng.uniform(0.008, 0.02))
    return plant
