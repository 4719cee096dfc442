# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/Image -> numpy for any object with Image's fields: rclpy messages or rosbags'.

Without ROS, so that bag tools (`thermostereo eval --no-gt` on a bag) decode images the way
the node does. Every validation failure raises `InputError` with a short machine `reason` (the
node's per-reason counters) and a message that says what is wrong.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

# encoding -> (dtype, channels) of the encodings read and written here
ENCODINGS: Dict[str, Tuple[np.dtype, int]] = {
    'mono16': (np.dtype(np.uint16), 1),
    '16UC1': (np.dtype(np.uint16), 1),
    'mono8': (np.dtype(np.uint8), 1),
    '8UC1': (np.dtype(np.uint8), 1),
    '32FC1': (np.dtype(np.float32), 1),
    'bgr8': (np.dtype(np.uint8), 3),
    'rgb8': (np.dtype(np.uint8), 3),
}
SUPPORTED_ENCODINGS = tuple(ENCODINGS)

# ITU-R BT.601 luma, the weights cv2.cvtColor uses for *2GRAY.
_LUMA_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class InputError(ValueError):
    """A message that cannot be used; `reason` is a short key for counters."""

    def __init__(self, reason: str, message: str) -> None:
        """Store the counter key and the human-readable explanation."""
        super().__init__(message)
        self.reason = reason


def same_layout(encoding_a: str, encoding_b: str) -> bool:
    """Return True if two supported encodings store pixels alike (mono16 and 16UC1 do)."""
    return ENCODINGS.get(encoding_a) == ENCODINGS.get(encoding_b) is not None


def image_to_numpy(msg: Any, max_pixels: Optional[int] = None,
                   allow_non_finite: bool = False) -> np.ndarray:
    """Return a 2-D array (uint8, uint16 or float32) for a single-channel or colour image.

    Colour (bgr8/rgb8) becomes float32 grey luma. Raises InputError on anything malformed;
    NaN/Inf in float images is malformed unless `allow_non_finite` (e.g. ground-truth depth).
    """
    encoding = msg.encoding
    if encoding not in ENCODINGS:
        raise InputError('encoding', f'unsupported encoding "{encoding}" '
                                     f'(supported: {", ".join(SUPPORTED_ENCODINGS)})')
    dtype, channels = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise InputError('zero_size', f'image is {width}x{height}: zero size')
    if max_pixels is not None and height * width > max_pixels:
        raise InputError('too_large', f'image is {width}x{height} = {height * width} pixels, '
                                      f'above max_image_pixels={max_pixels}')
    if msg.is_bigendian and dtype.itemsize > 1:
        raise InputError('big_endian', f'big-endian {encoding} is not supported '
                                       '(is_bigendian=1); publish little-endian data')
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise InputError('step', f'step {step} is smaller than width*bytes-per-pixel '
                                 f'{row_bytes} for {width} px of {encoding}')
    if step % dtype.itemsize:
        raise InputError('step', f'step {step} is not a multiple of the {dtype.itemsize}-byte '
                                 f'{encoding} element')
    data = memoryview(msg.data).cast('B')
    expected = step * height
    if len(data) < expected:
        raise InputError('truncated', f'data has {len(data)} bytes, step*height needs '
                                      f'{expected} ({step}x{height}): truncated')
    if len(data) > expected:
        raise InputError('step', f'step/data length disagree: data has {len(data)} bytes '
                                 f'but step*height is {expected}')
    rows = np.frombuffer(data, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    image = rows.view(dtype.newbyteorder('<')).reshape(height, width, channels)
    if channels == 3:
        weights = _LUMA_RGB if encoding == 'rgb8' else _LUMA_RGB[::-1]
        return image.astype(np.float32) @ weights
    image = image[..., 0]
    if dtype.kind == 'f':
        if not allow_non_finite and not np.all(np.isfinite(image)):
            bad = int(np.count_nonzero(~np.isfinite(image)))
            raise InputError('non_finite', f'{bad} NaN/Inf pixel(s) in a {encoding} image')
        image = image.astype(np.float32, copy=False)
    # Copy so the array does not pin (or alias) the message buffer.
    return np.array(image, copy=True)
