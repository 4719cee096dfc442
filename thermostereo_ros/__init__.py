# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""thermostereo_ros: real-time depth from a rectified thermal stereo pair (ThermoStereoRT).

The package is split along one boundary. Everything except `thermostereo_ros.ros` is the
ROS-free core (model, inference, data, evaluation, training, geometry, bags, cli) and imports
without rclpy; `thermostereo_ros.ros` is the thin ROS 2 layer.
"""

import pathlib
import sys

__version__ = '0.1.0'

# The interfaces of msg/ (thermostereo_ros.msg). A colcon install puts them in this package's
# directory; a pip venv of ROS wheels gets them from scripts/build_interfaces.sh, outside the
# source tree because each venv (distro) builds its own binaries.
_GENERATED = pathlib.Path(sys.prefix) / 'lib' / 'thermostereo_ros_interfaces' / __name__
if _GENERATED.is_dir():
    __path__.append(str(_GENERATED))  # noqa: F821 (__path__ is set for packages)
