# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The network: ThermoStereoRT student, its dense teacher, and their building blocks."""
