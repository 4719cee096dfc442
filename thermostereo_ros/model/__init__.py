# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The network: ThermoStereoRT student, its dense teacher, and their building blocks."""

from typing import Any, Dict, Optional

from torch import nn

from thermostereo_ros.model.student import ThermoStereoRT
from thermostereo_ros.model.teacher import ThermoStereoTeacher

ARCHITECTURES = {
    'thermostereo_rt': ThermoStereoRT,
    'teacher': ThermoStereoTeacher,
}


def build_model(arch: str, config: Optional[Dict[str, Any]] = None) -> nn.Module:
    """Build a network by architecture name from its constructor keyword arguments.

    Raises ValueError for an unknown name and TypeError for an unknown config key.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f'unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}')
    return ARCHITECTURES[arch](**dict(config or {}))


__all__ = ['ARCHITECTURES', 'ThermoStereoRT', 'ThermoStereoTeacher', 'build_model']
