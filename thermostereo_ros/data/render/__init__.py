# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Renderer internals: rigs, ray-cast primitives, materials, sky and air, scenes, sensor.

`thermostereo_ros.data.synthetic` is the public entry point; these modules are its parts.
"""
