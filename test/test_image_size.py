# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The one WIDTHxHEIGHT parser behind warmup_size, bench --sizes and eval --size."""

import pytest

from thermostereo_ros.geometry.image_size import parse_size, parse_sizes, size_label


def test_width_by_height_becomes_height_width():
    assert parse_size('640x512') == (512, 640)
    assert parse_size(' 640 X 256 ') == (256, 640)
    assert parse_sizes('640x256, 640x512,') == [(256, 640), (512, 640)]
    assert size_label((512, 640)) == '640x512'
    assert parse_size(size_label((96, 240))) == (96, 240)


@pytest.mark.parametrize('bad', ['640', '640x0', '0x512', 'axb', '640x512x3', '640by512',
                                 '-640x512', '640.5x512', ''])
def test_a_bad_size_names_the_option_and_the_text(bad):
    with pytest.raises(ValueError, match=rf"--size='{bad}' is not WIDTHxHEIGHT"):
        parse_size(bad, '--size')


def test_no_sizes_is_an_error():
    with pytest.raises(ValueError, match='no sizes'):
        parse_sizes(' , ', '--sizes')
