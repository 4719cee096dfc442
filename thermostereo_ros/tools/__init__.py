# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Tools around the node: demo, node benchmark, bag replay, node subprocess (CLI only)."""
