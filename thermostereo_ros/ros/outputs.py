# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node's output topics: one OutputSpec each, built only when wanted, cheapest first.

A new output is one builder and one OutputSpec in OUTPUTS (plus its `publish_*` parameter in
parameters.PARAMETERS, if it has one): the node creates publishers from OUTPUTS and publishes
what `iter_messages` yields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from thermostereo_ros.geometry import disparity_to_depth, StereoCamera
from thermostereo_ros.inference.postprocess import DISPARITY_RESOLUTION_PX
from thermostereo_ros.ros.conversions import (
    disparity_to_pointcloud, make_disparity_image, numpy_to_image, valid_window)


@dataclass
class Products:
    """One pair's results: adjusted disparity with INVALID outside `valid`, and confidence."""

    disparity: np.ndarray
    valid: np.ndarray
    confidence: np.ndarray
    camera: StereoCamera
    right_fx: float
    max_disparity: float
    intensity: np.ndarray  # the left image, for the points' intensity field


def _disparity(p: Products, header: Header, config: Mapping[str, Any]) -> Any:
    camera = p.camera
    return make_disparity_image(
        p.disparity, header, f=p.right_fx, t=camera.baseline,
        min_disparity=max(0.0, -camera.doffs), max_disparity=p.max_disparity - camera.doffs,
        delta_d=DISPARITY_RESOLUTION_PX, valid_window=valid_window(p.valid))


def _confidence(p: Products, header: Header, config: Mapping[str, Any]) -> Any:
    return numpy_to_image(p.confidence, header, '32FC1')


def _depth(p: Products, header: Header, config: Mapping[str, Any]) -> Any:
    depth = disparity_to_depth(p.disparity, p.camera, adjusted=True,
                               min_depth=config['min_depth'], max_depth=config['max_depth'])
    return numpy_to_image(depth, header, '32FC1')


def _points(p: Products, header: Header, config: Mapping[str, Any]) -> Any:
    return disparity_to_pointcloud(
        p.disparity, p.camera, header, p.intensity, adjusted=True,
        decimation=config['pointcloud_decimation'], min_depth=config['min_depth'],
        max_depth=config['max_depth'])


@dataclass(frozen=True)
class OutputSpec:
    """One output topic: its name (relative to the node), message type, switch and builder."""

    topic: str
    msg_type: Any
    build: Callable[[Products, Header, Mapping[str, Any]], Any]
    switch: Optional[str] = None  # the bool parameter that turns it off; None: always on


# Cheapest first, so that a caller who publishes each as it comes does not hold the disparity
# back while the point cloud (the costliest) is built.
OUTPUTS: Tuple[OutputSpec, ...] = (
    OutputSpec('disparity', DisparityImage, _disparity),
    OutputSpec('confidence', Image, _confidence, 'publish_confidence'),
    OutputSpec('depth', Image, _depth, 'publish_depth'),
    OutputSpec('points2', PointCloud2, _points, 'publish_pointcloud'),
)
TOPICS = tuple(spec.topic for spec in OUTPUTS)


def wanted(config: Mapping[str, Any], subscribed: Mapping[str, bool]) -> Dict[str, bool]:
    """Return {topic: build it?}: switched on by its parameter and with a subscriber."""
    return {spec.topic: bool((spec.switch is None or config[spec.switch])
                             and subscribed[spec.topic]) for spec in OUTPUTS}


def iter_messages(products: Products, header: Header, wanted: Mapping[str, bool],
                  config: Mapping[str, Any]) -> Iterator[Tuple[str, Any]]:
    """Yield (topic, message) for every output `wanted` asks for, built lazily in OUTPUTS order."""
    for spec in OUTPUTS:
        if wanted.get(spec.topic):
            yield spec.topic, spec.build(products, header, config)
