# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CPU detection behind `precision: auto`, and the learning-curve plot."""

import cv2

from thermostereo_ros.inference.cpu_features import auto_cpu_precision, cpu_info, parse_cpuinfo
from thermostereo_ros.training.curve import plot_curve

XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile
"""
EPYC = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx2 fma
"""


def test_native_bf16_from_flags():
    xeon, epyc = parse_cpuinfo(XEON), parse_cpuinfo(EPYC)
    assert xeon.model.startswith('Intel(R) Xeon') and xeon.native_bf16
    assert auto_cpu_precision(xeon) == 'bf16'
    assert not epyc.native_bf16 and auto_cpu_precision(epyc) == 'fp32'
    assert xeon.summary()['flags'] == ['amx_bf16', 'amx_tile', 'avx2', 'avx512_bf16',
                                       'avx512_vnni', 'avx512f']


def test_this_machine_and_missing_file(tmp_path):
    info = cpu_info()
    assert info.model and auto_cpu_precision(info) in ('bf16', 'fp32')
    assert cpu_info(str(tmp_path / 'none')).flags == frozenset()


def test_curve_png(tmp_path):
    path = tmp_path / 'curve.png'
    plot_curve([{'step': 250, 'epe': 9.0, 'd1': 70.0}, {'step': 500, 'epe': 6.0, 'd1': 50.0}],
               str(path), 'run')
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (360, 900, 3)
    assert (image < 200).any()  # something was drawn
