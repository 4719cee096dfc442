# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Renderer v2 internals: rigs, ray-cast primitives, thermal materials, scene families, sensor.

`thermostereo_ros.data.synthetic` is the public entry point; these modules are its parts.
"""
