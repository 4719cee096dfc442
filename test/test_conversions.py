# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Image/DisparityImage/PointCloud2 conversions and every malformed-image rejection."""

import numpy as np
import pytest

from thermostereo_ros.geometry import StereoCamera, disparity_to_points
from thermostereo_ros.ros.conversions import (
    disparity_to_pointcloud, InputError, image_to_numpy, make_disparity_image, make_pointcloud,
    numpy_to_image, pointcloud_to_numpy, valid_window)

pytestmark = pytest.mark.ros

sensor_msgs = pytest.importorskip('sensor_msgs.msg')
std_msgs = pytest.importorskip('std_msgs.msg')


def _header(frame='cam'):
    header = std_msgs.Header()
    header.frame_id = frame
    header.stamp.sec, header.stamp.nanosec = 12, 345
    return header


@pytest.mark.parametrize('dtype, encoding', [
    (np.uint16, 'mono16'), (np.uint16, '16UC1'), (np.uint8, 'mono8'), (np.uint8, '8UC1'),
    (np.float32, '32FC1')])
def test_round_trip(dtype, encoding):
    rng = np.random.default_rng(1)
    image = (rng.random((5, 7)) * 200).astype(dtype)
    msg = numpy_to_image(image, _header(), encoding)
    assert msg.step == 7 * np.dtype(dtype).itemsize and msg.is_bigendian == 0
    out = image_to_numpy(msg)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, image)


def test_padded_rows_are_cropped():
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    padded = np.zeros((3, 6), dtype=np.uint16)
    padded[:, :4] = image
    msg = numpy_to_image(padded, _header(), 'mono16')
    msg.width = 4
    np.testing.assert_array_equal(image_to_numpy(msg), image)


@pytest.mark.parametrize('encoding, order', [('rgb8', [0, 1, 2]), ('bgr8', [2, 1, 0])])
def test_colour_to_grey(encoding, order):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 100, 50, 200
    msg = sensor_msgs.Image(height=2, width=3, encoding=encoding, step=9)
    msg.data = rgb[..., order].tobytes()
    grey = image_to_numpy(msg)
    assert grey.shape == (2, 3)
    np.testing.assert_allclose(grey, 0.299 * 100 + 0.587 * 50 + 0.114 * 200, rtol=1e-5)


def _good(**changes):
    msg = numpy_to_image(np.ones((4, 5), dtype=np.uint16), _header(), 'mono16')
    for key, value in changes.items():
        setattr(msg, key, value)
    return msg


def _nan_image():
    image = np.ones((4, 5), dtype=np.float32)
    image[1, 2] = np.inf
    return numpy_to_image(image, _header(), '32FC1')


@pytest.mark.parametrize('msg, reason, words', [
    (_good(encoding='yuv422'), 'encoding', 'unsupported encoding "yuv422"'),
    (_good(height=0), 'zero_size', 'zero size'),
    (_good(is_bigendian=1), 'big_endian', 'big-endian'),
    (_good(step=8), 'step', 'smaller than'),
    (_good(step=11, data=b'\0' * 44), 'step', 'multiple'),
    (_good(data=b'\0' * 39), 'truncated', 'truncated'),
    (_good(data=b'\0' * 48), 'step', 'step/data length disagree'),
    (_nan_image(), 'non_finite', 'NaN/Inf'),
])
def test_bad_images_are_explained(msg, reason, words):
    with pytest.raises(InputError, match=words) as info:
        image_to_numpy(msg)
    assert info.value.reason == reason


def test_pixel_limit():
    with pytest.raises(InputError, match='max_image_pixels=19') as info:
        image_to_numpy(_good(), max_pixels=19)
    assert info.value.reason == 'too_large'
    assert image_to_numpy(_good(), max_pixels=20).shape == (4, 5)


def test_big_endian_allowed_for_bytes():
    msg = numpy_to_image(np.ones((2, 2), dtype=np.uint8), _header(), 'mono8')
    msg.is_bigendian = 1
    assert image_to_numpy(msg).shape == (2, 2)


def test_disparity_image_fields():
    disparity = np.full((3, 4), -1.0, dtype=np.float32)
    disparity[1:3, 2:4] = 7.5
    window = valid_window(disparity > 0)
    assert window == (2, 1, 2, 2)
    msg = make_disparity_image(disparity, _header('left'), f=400.0, t=0.3, min_disparity=0.0,
                               max_disparity=191.0, delta_d=0.0625, valid_window=window)
    assert msg.image.encoding == '32FC1' and msg.header.frame_id == 'left'
    assert (msg.valid_window.x_offset, msg.valid_window.y_offset,
            msg.valid_window.width, msg.valid_window.height) == (2, 1, 2, 2)
    assert msg.f == pytest.approx(400.0) and msg.t == pytest.approx(0.3)
    np.testing.assert_array_equal(image_to_numpy(msg.image), disparity)
    assert valid_window(np.zeros((3, 3), bool)) == (0, 0, 0, 0)


def test_pointcloud_layout_and_values():
    rng = np.random.default_rng(2)
    points = rng.random((6, 8, 3)).astype(np.float32)
    points[2, 3] = np.nan
    intensity = rng.random((6, 8)).astype(np.float32)
    msg = make_pointcloud(points, _header('left'), intensity)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (6, 8, 16, 128)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('intensity', 12, 7, 1)]
    assert msg.is_dense is False and msg.is_bigendian is False
    assert len(msg.data) == 6 * 8 * 16
    cloud = pointcloud_to_numpy(msg)
    np.testing.assert_array_equal(cloud['x'], points[..., 0])
    np.testing.assert_array_equal(cloud['z'], points[..., 2])
    np.testing.assert_array_equal(cloud['intensity'], intensity)


def test_messages_keep_their_buffer_and_serialise_it():
    # The node's 5 MB cloud is stored, not copied (conversions._store_data); what goes over
    # DDS must still be those bytes.
    from rclpy.serialization import deserialize_message, serialize_message

    from thermostereo_ros.ros.conversions import _point_buffer, _pointcloud_message

    data, view = _point_buffer(3, 5)
    view[...] = np.arange(3 * 5 * 4, dtype=np.float32).reshape(3, 5, 4)
    msg = _pointcloud_message(_header(), 3, 5, data)
    assert msg.data is data
    back = deserialize_message(serialize_message(msg), sensor_msgs.PointCloud2)
    np.testing.assert_array_equal(pointcloud_to_numpy(back), pointcloud_to_numpy(msg))
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    back = deserialize_message(serialize_message(numpy_to_image(image, _header())),
                               sensor_msgs.Image)
    np.testing.assert_array_equal(image_to_numpy(back), image)


@pytest.mark.parametrize('step', [1, 3])
def test_disparity_to_pointcloud_equals_points_then_make_pointcloud(step):
    """The one-buffer path gives the same bytes as disparity_to_points + make_pointcloud."""
    camera = StereoCamera.from_projection([400.0, 0, 32.0, 0, 0, 400.0, 20.0, 0, 0, 0, 1, 0],
                                          [400.0, 0, 30.0, -120.0, 0, 400.0, 20.0, 0, 0, 0, 1, 0])
    rng = np.random.default_rng(3)
    disparity = rng.uniform(-5.0, 80.0, (41, 67)).astype(np.float32)  # not a multiple of 3
    disparity[5, 5] = np.nan
    image = rng.integers(0, 65535, disparity.shape, dtype=np.uint16)
    kwargs = dict(adjusted=True, decimation=step, min_depth=1.0, max_depth=60.0)
    expected = make_pointcloud(disparity_to_points(disparity, camera, **kwargs), _header('left'),
                               image[::step, ::step].astype(np.float32))
    msg = disparity_to_pointcloud(disparity, camera, _header('left'), image, **kwargs)
    assert (msg.height, msg.width) == (expected.height, expected.width) == (-(-41 // step),
                                                                            -(-67 // step))
    assert (msg.fields, msg.point_step, msg.row_step, msg.is_dense, msg.header) == (
        expected.fields, expected.point_step, expected.row_step, expected.is_dense,
        expected.header)
    assert bytes(msg.data) == bytes(expected.data)
    # Without intensity it is 0; each message has its own buffer.
    other = disparity_to_pointcloud(disparity, camera, _header('left'), None, **kwargs)
    assert np.all(pointcloud_to_numpy(other)['intensity'] == 0.0)
    assert bytes(msg.data) == bytes(expected.data)
    with pytest.raises(ValueError, match='intensity'):
        disparity_to_pointcloud(disparity, camera, _header(), image[:-1], **kwargs)
    with pytest.raises(ValueError, match='decimation'):
        disparity_to_pointcloud(disparity, camera, _header(), image, decimation=0)
