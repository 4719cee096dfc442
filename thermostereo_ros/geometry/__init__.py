# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pure stereo geometry: camera models from calibration, disparity to depth and points."""
