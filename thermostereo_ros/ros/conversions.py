# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/stereo_msgs <-> numpy without cv_bridge or sensor_msgs_py.

Every validation failure raises `InputError` with a short machine `reason` (used for the
node's per-reason counters) and a message that says what is wrong.
"""

from __future__ import annotations

import array
import math
from typing import Any, Dict, Optional, Tuple

import numpy as np
from sensor_msgs.msg import Image, PointField, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from thermostereo_ros.bags.image_codec import (  # noqa: F401 (the node's names for them)
    ENCODINGS, image_to_numpy, InputError, same_layout, SUPPORTED_ENCODINGS)
from thermostereo_ros.geometry import StereoCamera, disparity_to_points

POINT_DTYPE = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4')])
# Byte offset of each point field (the structured dtype's field table, which numpy types as
# optional).
POINT_OFFSETS: Dict[str, int] = {name: POINT_DTYPE.fields[name][1]  # type: ignore[index]
                                 for name in ('x', 'y', 'z', 'intensity')}


def depth_to_metres(msg: Image, max_pixels: Optional[int] = None) -> np.ndarray:
    """Return a depth image in metres, NaN where missing: 32FC1 metres or 16UC1 millimetres.

    REP 118: float depth is in metres, 16-bit depth in millimetres with 0 meaning no value.
    """
    depth = image_to_numpy(msg, max_pixels, allow_non_finite=True)
    if msg.encoding in ('16UC1', 'mono16'):
        metres = depth.astype(np.float32) * np.float32(1e-3)
        metres[depth == 0] = np.nan
        return metres
    if msg.encoding != '32FC1':
        raise InputError('encoding', f'depth must be 32FC1 (m) or 16UC1 (mm), got '
                                     f'"{msg.encoding}"')
    return depth


def _store_data(msg: Any, data: array.array) -> None:
    """Make the byte array `data` the `data` field of `msg` without copying it.

    Jazzy's and Kilted's generated setters copy an array.array unless ROS_PYTHON_CHECK_FIELDS
    is set (Humble's keep it). That copy lands in fresh pages and cost more than building a
    640x512 cloud's 5 MB. Every rosidl_generator_py message keeps the field in its
    `_data` slot, which is where the checked setter puts an array.array too, so it goes there.
    """
    if '_data' in getattr(type(msg), '__slots__', ()):
        msg._data = data
    else:
        msg.data = data


def _byte_array(values: np.ndarray) -> array.array:
    # One memcpy into the array.array the generated message setter accepts as-is.
    out = array.array('B')
    out.frombytes(np.ascontiguousarray(values).data.cast('B'))
    return out


def numpy_to_image(image: np.ndarray, header: Header, encoding: Optional[str] = None) -> Image:
    """Build a little-endian sensor_msgs/Image from a 2-D uint8/uint16/float32 array."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f'expected a 2-D array, got shape {image.shape}')
    if encoding is None:
        encoding = {np.dtype(np.uint8): 'mono8', np.dtype(np.uint16): 'mono16',
                    np.dtype(np.float32): '32FC1'}.get(image.dtype)
        if encoding is None:
            raise ValueError(f'no single-channel encoding for dtype {image.dtype}')
    dtype = ENCODINGS[encoding][0]
    image = np.ascontiguousarray(image, dtype=dtype.newbyteorder('<'))
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(image.shape[1] * dtype.itemsize)
    _store_data(msg, _byte_array(image))
    return msg


def make_disparity_image(disparity: np.ndarray, header: Header, *, f: float, t: float,
                         min_disparity: float, max_disparity: float, delta_d: float,
                         valid_window: tuple) -> DisparityImage:
    """Build a stereo_msgs/DisparityImage (32FC1). valid_window is (x, y, width, height)."""
    msg = DisparityImage()
    msg.header = header
    msg.image = numpy_to_image(np.asarray(disparity, dtype=np.float32), header, '32FC1')
    msg.f = float(f)
    msg.t = float(t)
    x, y, w, h = (int(v) for v in valid_window)
    msg.valid_window.x_offset, msg.valid_window.y_offset = x, y
    msg.valid_window.width, msg.valid_window.height = w, h
    msg.min_disparity = float(min_disparity)
    msg.max_disparity = float(max_disparity)
    msg.delta_d = float(delta_d)
    return msg


def valid_window(mask: np.ndarray) -> tuple:
    """Tight (x_offset, y_offset, width, height) box around True pixels; zeros if none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1))


def _point_buffer(height: int, width: int) -> Tuple[array.array, np.ndarray]:
    """Return a zero-filled x, y, z, intensity buffer and a writable (H, W, 4) float32 view.

    The buffer becomes the message's data: callers write points straight into the view, so
    this is the only point buffer a frame allocates. Each frame gets a new one, so a published
    message never shares memory with a later frame.
    """
    # Repeating a one-byte array is the cheapest way to get an n-byte array.array, the type
    # the generated message setter accepts without converting element by element.
    data = array.array('B', b'\0') * (height * width * POINT_DTYPE.itemsize)
    return data, np.frombuffer(data, dtype=np.dtype('<f4')).reshape(height, width, 4)


def _pointcloud_message(header: Header, height: int, width: int,
                        data: array.array) -> PointCloud2:
    """Wrap a filled _point_buffer as an organised x, y, z, intensity PointCloud2."""
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = int(height), int(width)
    msg.fields = [PointField(name=name, offset=offset, datatype=PointField.FLOAT32, count=1)
                  for name, offset in POINT_OFFSETS.items()]
    msg.is_bigendian = False
    msg.point_step = POINT_DTYPE.itemsize
    msg.row_step = POINT_DTYPE.itemsize * int(width)
    msg.is_dense = False
    _store_data(msg, data)
    return msg


def make_pointcloud(points: np.ndarray, header: Header,
                    intensity: Optional[np.ndarray] = None) -> PointCloud2:
    """Organised PointCloud2 (x, y, z, intensity float32; NaN = invalid) from HxWx3 points."""
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[2] != 3:
        raise ValueError(f'expected HxWx3 points, got shape {points.shape}')
    height, width = points.shape[:2]
    if intensity is not None and intensity.shape != (height, width):
        raise ValueError(f'intensity shape {intensity.shape} != points {(height, width)}')
    data, view = _point_buffer(height, width)
    view[..., :3] = points
    if intensity is not None:  # otherwise it stays 0 from the zero-filled buffer
        view[..., 3] = intensity
    return _pointcloud_message(header, height, width, data)


def disparity_to_pointcloud(disparity: np.ndarray, camera: StereoCamera, header: Header,
                            intensity: Optional[np.ndarray] = None, *, adjusted: bool = False,
                            decimation: int = 1, min_depth: float = 0.0,
                            max_depth: float = math.inf) -> PointCloud2:
    """make_pointcloud(disparity_to_points(...), header, intensity), without intermediates.

    `intensity` is full resolution (the disparity's shape) and decimated like the points;
    x, y, z and intensity are written straight into the message's one buffer.
    """
    disparity = np.asarray(disparity)
    step = int(decimation)
    if step < 1 or disparity.ndim != 2:
        raise ValueError(f'expected 2-D disparity and decimation >= 1, got shape '
                         f'{disparity.shape} and decimation {decimation}')
    if intensity is not None and intensity.shape != disparity.shape:
        raise ValueError(f'intensity shape {intensity.shape} != disparity {disparity.shape}')
    height, width = -(-disparity.shape[0] // step), -(-disparity.shape[1] // step)
    data, view = _point_buffer(height, width)
    disparity_to_points(disparity, camera, adjusted=adjusted, decimation=step,
                        min_depth=min_depth, max_depth=max_depth, out=view[..., :3])
    if intensity is not None:
        view[..., 3] = intensity[::step, ::step]
    return _pointcloud_message(header, height, width, data)


def pointcloud_to_numpy(msg: PointCloud2) -> np.ndarray:
    """Read back a cloud made by make_pointcloud as a structured HxW array (for tests/tools)."""
    offsets = {f.name: f.offset for f in msg.fields}
    if offsets != POINT_OFFSETS:
        raise ValueError(f'unexpected point fields {offsets}')
    data = np.frombuffer(memoryview(msg.data).cast('B'), dtype=np.uint8)
    return data.reshape(msg.height, msg.row_step)[:, :msg.width * msg.point_step].copy() \
        .view(POINT_DTYPE).reshape(msg.height, msg.width)
