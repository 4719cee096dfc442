# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Synthetic thermal stereo, MS2 and CATS readers, and stereo-consistent augmentation."""
