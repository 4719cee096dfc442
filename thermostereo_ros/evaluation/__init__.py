# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Disparity and depth metrics, the SGBM baseline, and dataset evaluation."""
