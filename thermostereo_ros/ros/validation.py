# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Checks on a synchronised pair before it reaches the network: layout, sizes, calibration.

Pure functions of the messages (no node): each failure is a `BadInput` naming the topic, a
counter reason and one readable sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from thermostereo_ros.geometry import rectified_camera, StereoCamera
from thermostereo_ros.ros.conversions import same_layout

BAD_INPUT_REASONS = ('encoding', 'zero_size', 'too_large', 'big_endian', 'step', 'truncated',
                     'non_finite', 'size_mismatch', 'encoding_mismatch', 'camera_info',
                     'calibration', 'frame_id', 'depth_gt')


class BadInput(ValueError):
    """A message (or pair) that cannot be used: which topic, the counter reason, and why."""

    def __init__(self, topic: str, reason: str, text: str) -> None:
        """Store the topic, the counter key and the explanation."""
        super().__init__(text)
        self.topic, self.reason = topic, reason


@dataclass(frozen=True)
class Topics:
    """The resolved input topic names, for messages that name what was wrong."""

    left_image: str
    right_image: str
    left_info: str
    right_info: str


def check_camera_info(info: Any, topic: str, image_shape: tuple, image_frame: str) -> None:
    """Raise BadInput if `info` cannot describe the image of this shape and frame."""
    if info.width == 0 or info.height == 0:
        raise BadInput(topic, 'camera_info', f'camera_info is {info.width}x{info.height}: a '
                       'calibration must state the image size it describes')
    if info.binning_x > 1 or info.binning_y > 1 or info.roi.width or info.roi.height:
        raise BadInput(topic, 'camera_info', 'binning or ROI is set (binning '
                       f'{info.binning_x}x{info.binning_y}, roi {info.roi.width}x'
                       f'{info.roi.height}); not supported: publish full-frame rectified '
                       'images, or a camera_info that describes the binned image itself')
    if (info.height, info.width) != tuple(image_shape):
        raise BadInput(topic, 'size_mismatch', f'camera_info is {info.width}x{info.height} but '
                       f'the image is {image_shape[1]}x{image_shape[0]}')
    if info.header.frame_id and image_frame and info.header.frame_id != image_frame:
        raise BadInput(topic, 'frame_id', f'camera_info frame_id "{info.header.frame_id}" '
                       f'disagrees with its image frame_id "{image_frame}"')


def check_pair(pair: Any, topics: Topics, limits: Mapping[str, float]) -> StereoCamera:
    """Return the pair's StereoCamera, or raise BadInput naming the first problem.

    `pair` has left_image/right_image (frames with .image, .encoding, .header) and
    left_info/right_info (CameraInfo); `limits` gives min_baseline and max_baseline (m).
    """
    left, right = pair.left_image, pair.right_image
    if not same_layout(left.encoding, right.encoding):
        raise BadInput(topics.right_image, 'encoding_mismatch',
                       f'encoding {right.encoding} differs from left {left.encoding}')
    if left.image.shape != right.image.shape:
        raise BadInput(topics.right_image, 'size_mismatch',
                       f'{right.image.shape[1]}x{right.image.shape[0]} differs from left '
                       f'{left.image.shape[1]}x{left.image.shape[0]}')
    check_camera_info(pair.left_info, topics.left_info, left.image.shape,
                      left.header.frame_id)
    check_camera_info(pair.right_info, topics.right_info, right.image.shape,
                      right.header.frame_id)
    try:
        return rectified_camera(pair.left_info.p, pair.right_info.p, pair.left_info.k,
                                min_baseline=limits['min_baseline'],
                                max_baseline=limits['max_baseline'])
    except ValueError as exc:
        raise BadInput(f'{topics.left_info} + {topics.right_info}', 'calibration',
                       f'unusable calibration: {exc}') from None
